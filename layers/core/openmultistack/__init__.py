"""OpenMultiStack core: everything the Lambda functions do, importable without AWS or a network."""
