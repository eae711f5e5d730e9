// The dashboard's static files (services/insights/http/web/), embedded into the binary at build
// time: CMake runs embed_web_assets.cmake, which writes web_assets.cc with the files' bytes. The
// server serves exactly these paths (a fixed table: nothing on disk is ever opened).
#pragma once
#include "absl/strings/string_view.h"
#include "absl/types/span.h"

namespace sb::insights::http {

// WebAsset
//
// One embedded file: its URL path ("/app.js") and bytes. Static storage, immutable.
struct WebAsset {
  absl::string_view path;
  absl::string_view body;
};

// Every embedded file, in name order. Defined in the generated web_assets.cc.
absl::Span<const WebAsset> WebAssets();

// The Content-Type for a path by its extension ("text/javascript; charset=utf-8" for .js, ...);
// "application/octet-stream" when unknown.
absl::string_view ContentTypeFor(absl::string_view path);

}  // namespace sb::insights::http
