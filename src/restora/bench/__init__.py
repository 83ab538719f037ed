"""restora.bench"""
