#pragma once
// Unix socket files: a stale one (left by a process that died) is replaced, a live one is refused,
// on shutdown only the file this process created is removed, and its mode and owner are set as
// configured. Those are set through a descriptor of the socket file itself (O_PATH, O_NOFOLLOW),
// never by following a path: a symlink put in its place cannot make netd, as root, change another
// file.

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

/// Sets the mode of the socket file at path. Returns "" or why not.
std::string set_unix_mode(const std::string& path, mode_t mode);

/// Sets the owner and group of the socket file at path ((uid_t)-1 or (gid_t)-1: unchanged).
/// Returns "" or why not.
std::string set_unix_owner(const std::string& path, uid_t owner, gid_t group);

}  // namespace netd
