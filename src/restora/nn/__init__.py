"""restora.nn"""
