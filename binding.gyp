{
  "targets": [
    {
      "target_name": "llp_native",
      "sources": [
        "native/addon.cc", "native/handle.cc", "native/tensor.cc", "native/ops_math.cc",
        "native/ops_nn.cc", "native/ops_index.cc", "native/autograd.cc", "native/optim.cc",
        "native/random.cc", "native/ops_topk.cc", "native/topk_core.cc", "native/alloc.cc", "native/distributed.cc"
      ],
      "include_dirs": [
        "<!(node -p \"require('node-addon-api').include_dir\")",
        "/usr/include/torch/csrc/api/include"
      ],
      "defines": ["NAPI_VERSION=8", "NAPI_CPP_EXCEPTIONS", "NODE_ADDON_API_DISABLE_DEPRECATED"],
      "cflags!": ["-fno-exceptions"],
      "cflags_cc!": ["-fno-exceptions", "-fno-rtti", "-std=gnu++17", "-std=gnu++20"],
      "cflags_cc": ["-std=c++17", "-fexceptions", "-frtti", "-O2", "-fopenmp", "-Wno-unused-parameter", "-Wno-deprecated-declarations"],
      "libraries": ["-ltorch", "-ltorch_cpu", "-lc10", "-Wl,--no-as-needed", "-l:libblas.so.3", "-fopenmp"]
    },
    {
      "target_name": "llp_topk",
      "sources": ["native/topk_addon.cc", "native/topk_core.cc", "native/alloc.cc"],
      "include_dirs": ["<!(node -p \"require('node-addon-api').include_dir\")"],
      "defines": ["NAPI_VERSION=8", "NAPI_CPP_EXCEPTIONS", "NODE_ADDON_API_DISABLE_DEPRECATED"],
      "cflags!": ["-fno-exceptions"],
      "cflags_cc!": ["-fno-exceptions", "-std=gnu++17", "-std=gnu++20"],
      "cflags_cc": ["-std=c++17", "-fexceptions", "-O2", "-fopenmp", "-Wno-unused-parameter"],
      "libraries": ["-l:libblas.so.3", "-fopenmp"]
    }
  ]
}
