"""restora.metrics"""
