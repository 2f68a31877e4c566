"""mesa"""
