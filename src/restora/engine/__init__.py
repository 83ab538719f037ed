"""restora.engine"""
