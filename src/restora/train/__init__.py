"""restora.train"""
