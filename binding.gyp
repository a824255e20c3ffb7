{
  "targets": [
    {
      "target_name": "flow_ingest",
      "sources": ["native/ingest.cc"],
      "include_dirs": ["<!(node -p \"require('node-addon-api').include_dir\")"],
      "defines": ["NAPI_VERSION=8", "NAPI_DISABLE_CPP_EXCEPTIONS", "_GNU_SOURCE"],
      "cflags": ["-fvisibility=hidden", "-Wall", "-Wextra", "-Wno-unused-parameter", "-Wno-missing-field-initializers"],
      "cflags_cc": ["-fvisibility=hidden", "-fno-exceptions", "-fno-rtti", "-Wno-unused-parameter", "-Wno-missing-field-initializers"],
      "ldflags": ["-Wl,--as-needed", "-Wl,-z,relro", "-Wl,-z,now"]
    }
  ]
}
