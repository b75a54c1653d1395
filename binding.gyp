{
  "targets": [
    {
      "target_name": "multiproc",
      "sources": ["src-native/binding.cc", "src-native/semaphore.cc", "src-native/descriptors.cc", "src-native/wait_hub.cc",
                  "src-native/os_common.cc", "src-native/os_posix.cc", "src-native/os_win.cc",
                  "src-native/shared_memory.cc", "src-native/shm_posix.cc", "src-native/shm_win.cc",
                  "src-native/children.cc"],
      "include_dirs": ["<!(node -p \"require('node-addon-api').include_dir\")"],
      "defines": ["NAPI_VERSION=8", "NAPI_DISABLE_CPP_EXCEPTIONS", "NODE_ADDON_API_DISABLE_DEPRECATED", "NODE_API_SWALLOW_UNTHROWABLE_EXCEPTIONS"],
      "cflags!": ["-fno-exceptions"],
      "cflags_cc!": ["-fno-exceptions"],
      "cflags_cc": ["-std=c++17", "-Wall", "-Wextra", "-Wno-unused-parameter"],
      "conditions": [
        ["OS=='linux'", {"libraries": ["-pthread", "-ldl"]}],
        ["OS=='mac'", {
          "xcode_settings": {
            "GCC_ENABLE_CPP_EXCEPTIONS": "YES",
            "CLANG_CXX_LANGUAGE_STANDARD": "c++17",
            "MACOSX_DEPLOYMENT_TARGET": "10.15",
            "WARNING_CFLAGS": ["-Wall", "-Wextra", "-Wno-unused-parameter"]
          }
        }],
        ["OS=='win'", {
          "msvs_settings": {"VCCLCompilerTool": {"ExceptionHandling": 1, "WarningLevel": 3}}
        }],
        ["'<!(node -p \"process.env.MULTIPROC_EMULATE_DARWIN || 0\")'=='1'", {
          "defines": ["MULTIPROC_EMULATE_DARWIN"]
        }],
        ["'<!(node -p \"process.env.MULTIPROC_WERROR || 0\")'=='1'", {
          "cflags_cc": ["-Werror"]
        }]
      ]
    }
  ]
}
