"""How Heavylift runs: the local stack (``devstack``), its provisioning, the SQS-to-Lambda
SQS poller, the demo, and deploy files (``redis.conf``; ``serverless.yml`` at the top)."""
