//===- PathSafety.cpp - Resolving paths found inside model files ----------===//
//
// SPDX-License-Identifier: Apache-2.0 WITH LLVM-exception
//
//===----------------------------------------------------------------------===//

#include "qopt/support/PathSafety.h"

#include "llvm/ADT/SmallString.h"
#include "llvm/ADT/SmallVector.h"
#include "llvm/ADT/StringExtras.h"
#include "llvm/Support/FileSystem.h"
#include "llvm/Support/Path.h"

using namespace llvm;

namespace {

/// Printable form of a location for messages (NULs and other control
/// characters escaped).
std::string printable(StringRef s) {
  std::string out;
  for (char c : s) {
    unsigned char u = static_cast<unsigned char>(c);
    if (u < 0x20 || u == 0x7f) {
      static const char hex[] = "0123456789abcdef";
      out += "\\x";
      out += hex[u >> 4];
      out += hex[u & 15];
    } else {
      out += c;
    }
  }
  return out;
}

Error reject(StringRef what, StringRef location, const Twine &why) {
  return createStringError(
      inconvertibleErrorCode(),
      (what + ": location '" + printable(location) + "' " + why).str());
}

} // namespace

Expected<std::string> qopt::resolveInside(StringRef baseDir, StringRef location,
                                          StringRef what) {
  if (location.empty())
    return reject(what, location, "is empty");
  if (location.contains('\0'))
    return reject(what, location, "contains a NUL character");
  if (location.contains('\\'))
    return reject(what, location,
                  "contains a backslash (only '/'-separated relative paths "
                  "are allowed)");
  if (location.front() == '/')
    return reject(what, location, "is an absolute path");
  if (location.size() >= 2 && isAlpha(location[0]) && location[1] == ':')
    return reject(what, location, "starts with a drive letter");

  SmallVector<StringRef, 8> parts;
  location.split(parts, '/', /*MaxSplit=*/-1, /*KeepEmpty=*/false);
  SmallVector<StringRef, 8> components;
  for (StringRef p : parts) {
    if (p == "..")
      return reject(what, location,
                    "contains a '..' component (it must stay inside '" +
                        baseDir + "')");
    if (p != ".")
      components.push_back(p);
  }
  if (components.empty())
    return reject(what, location, "does not name a file");

  SmallString<256> current(baseDir.empty() ? StringRef(".") : baseDir);
  for (size_t i = 0; i < components.size(); ++i) {
    sys::path::append(current, components[i]);
    bool last = i + 1 == components.size();
    sys::fs::file_status st;
    if (std::error_code ec = sys::fs::status(current, st, /*follow=*/false))
      return reject(what, location,
                    "cannot be resolved: '" + current + "': " + ec.message());
    switch (st.type()) {
    case sys::fs::file_type::symlink_file:
      return reject(what, location,
                    "goes through a symlink ('" + current +
                        "'); symlinks are not followed");
    case sys::fs::file_type::directory_file:
      if (last)
        return reject(what, location, "is a directory, not a regular file");
      break;
    case sys::fs::file_type::regular_file:
      if (!last)
        return reject(what, location,
                      "uses the file '" + current + "' as a directory");
      break;
    default:
      return reject(what, location,
                    "is not a regular file ('" + current + "')");
    }
  }
  if (baseDir.empty())
    return std::string(current.str().drop_front(2)); // drop "./"
  return std::string(current.str());
}
