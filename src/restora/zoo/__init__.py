"""restora.zoo"""
