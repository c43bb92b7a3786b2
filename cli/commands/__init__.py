"""Sub-commands of `tracer`; every module here defines `register(subparsers)`."""
