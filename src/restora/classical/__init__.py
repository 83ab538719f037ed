"""restora.classical"""
