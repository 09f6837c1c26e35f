"""Dramatiq's queues as Heavylift uses them: queue names, retries parked in Redis,
recovery of dead workers' messages, delivery counting, dead letters.
"""
