"""Everything Heavylift keeps in Redis besides the queues themselves: one key layout,
job records and their index, history, counters, dashboard sessions and login throttling.
"""
