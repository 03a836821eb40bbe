#pragma once
// Unix socket files: a stale one (left by a process that died) is replaced, a live one is refused,
// and on shutdown only the file this process created is removed.

#include <sys/types.h>

#include <string>

namespace netd {

/// Makes path free to bind a Unix socket of this type (SOCK_STREAM or SOCK_DGRAM). Returns an empty
/// string when it is, otherwise why not ("a server is listening on it", "exists and is not a
/// socket").
std::string free_unix_path(const std::string& path, int type);

/// The inode of the file at path, 0 if there is none; used to recognise our own socket file.
ino_t inode_of(const std::string& path);

/// Removes path if it is still the file with that inode.
void remove_unix_path(const std::string& path, ino_t inode);

}  // namespace netd
