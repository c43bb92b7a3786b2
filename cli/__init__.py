"""The command line: `tracer …` and the supervisor of `tracer up`.

This package sits above everything else: it starts the stages (`edge`, `batcher`,
`dispatcher`, `admin`) and uses the kernel (`tracer`), while neither the kernel nor any
stage imports it."""
