"""Airflow task callables: small functions that call the stage libraries and return JSON-able dicts.

The DAG files in ``dags/`` only wire these together. Every function here imports its stage library inside
its body, so parsing a DAG file never loads pyspark, boto3 or great-expectations.
"""
