"""FER2013 report series utilities."""
