"""Parts of the end-to-end pipeline benchmark (`benchmarks/pipeline.py`): input, the plain
confluent-kafka baseline, the workers' CPU, latency at half load, memory per open span, report.

A package rather than `benchmarks/*.py` modules, so `make bench` does not run them on their own.
"""
