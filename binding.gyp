{
  "targets": [
    {
      "target_name": "simclr",
      "sources": ["native/addon.cc", "native/tensor.cc", "native/dispatch.cc", "native/augment.cc", "native/allocator.cc", "native/distributed.cc", "native/profiler.cc", "native/batch_norm_relu.cc"],
      "include_dirs": [
        "<!(node -p \"require('node-addon-api').include_dir\")",
        "<!@(node scripts/libtorch.cjs include)"
      ],
      "libraries": ["<!@(node scripts/libtorch.cjs libs)"],
      # NAPI_EXPERIMENTAL: a handle's finalizer takes a BasicEnv and so runs within the collection that
      # found it dead. Stable Node-API defers every finalizer to the next turn of the event loop, so a
      # synchronous training loop grew by every handle it had made, disposed or not, until it returned.
      "defines": ["NAPI_CPP_EXCEPTIONS", "NAPI_EXPERIMENTAL"],
      "cflags!": ["-fno-exceptions"],
      "cflags_cc!": ["-fno-rtti", "-fno-exceptions"],
      # -fopenmp: ATen's at::parallel_for is inline, and serial in code compiled without OpenMP. The
      # addon does not link an OpenMP runtime of its own: its calls resolve to libtorch's.
      "cflags_cc": ["-frtti", "-fexceptions", "-O3", "-fopenmp", "-fno-trapping-math", "-Wno-unused-parameter", "<!@(node scripts/libtorch.cjs cflags)"]
    }
  ]
}
