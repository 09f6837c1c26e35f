"""What a job is and what happens to it: the pipeline spec, the models at every
boundary, identity and submission, the record's lifecycle, and one attempt on a worker.
"""
