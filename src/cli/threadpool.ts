// Imported first by the CLI, before anything touches libuv's thread pool (it starts on first use):
// concurrent pushes each wait on fsyncs there and builds compress gzip blocks there, and the default of
// four threads serialised them (small pushes at concurrency 8: 114/s with 4 threads, 209/s with 16).
import { availableParallelism } from 'node:os';

process.env.UV_THREADPOOL_SIZE ??= String(Math.max(16, availableParallelism() * 4));
