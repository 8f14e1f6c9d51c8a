"""`obspipe demo`: the whole pipeline on embedded infrastructure with a scripted story."""
