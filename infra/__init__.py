"""How Heavylift runs: the local stack (``devstack``), its provisioning, the SQS-to-Lambda
event bridge, the demo, and deploy files (``redis.conf``; ``serverless.yml`` at the top)."""
