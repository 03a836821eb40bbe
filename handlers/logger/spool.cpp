#include "handlers/logger/spool.hpp"

#include <dirent.h>
#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <boost/log/trivial.hpp>
#include <cerrno>
#include <charconv>
#include <cstring>
#include <filesystem>
#include <vector>

#include "core/write_all.hpp"
#include "handlers/logger/forward_record.hpp"

namespace netd {

namespace {

constexpr std::uint64_t min_segment = std::uint64_t{64} * 1024;
constexpr std::uint64_t max_segment = std::uint64_t{16} * 1024 * 1024;
constexpr std::string_view segment_suffix = ".seg";
/// The position file: "SEGMENT OFFSET\n", padded with spaces to this size and rewritten in place
/// with one pwrite, which a killed process either made or did not.
constexpr std::size_t position_size = 48;

/// A segment file's number from its name, or 0.
std::uint64_t segment_number(std::string_view name) {
    if (!name.ends_with(segment_suffix)) {
        return 0;
    }
    name.remove_suffix(segment_suffix.size());
    std::uint64_t number = 0;
    const auto [end, error] = std::from_chars(name.data(), name.data() + name.size(), number);
    return error == std::errc{} && end == name.data() + name.size() ? number : 0;
}

void close_fd(int& fd) {
    if (fd >= 0) {
        ::close(fd);
        fd = -1;
    }
}

}  // namespace

Spool::Spool(std::string dir, std::uint64_t max_bytes)
    : dir_(std::move(dir)),
      max_bytes_(max_bytes),
      segment_size_(std::clamp(max_bytes / 16, min_segment, max_segment)) {}

Spool::~Spool() {
    close_fd(append_fd_);
    close_fd(read_fd_);
    close_fd(position_fd_);
    close_fd(lock_fd_);
}

std::string Spool::segment_path(std::uint64_t segment) const {
    char name[32];
    const int length =
        std::snprintf(name, sizeof(name), "%020llu", static_cast<unsigned long long>(segment));
    return dir_ + "/" + std::string(name, static_cast<std::size_t>(length)) +
           std::string(segment_suffix);
}

std::pair<std::uint64_t, std::uint64_t> Spool::segment_range() const {
    std::uint64_t oldest = 0;
    std::uint64_t newest = 0;
    if (DIR* listing = ::opendir(dir_.c_str())) {
        while (const dirent* entry = ::readdir(listing)) {
            const std::uint64_t number = segment_number(entry->d_name);
            if (number > 0) {
                oldest = oldest == 0 ? number : std::min(oldest, number);
                newest = std::max(newest, number);
            }
        }
        ::closedir(listing);
    }
    return {oldest, newest};
}

std::string Spool::open() {
    std::error_code error;
    std::filesystem::create_directories(dir_, error);
    if (error) {
        return "cannot make " + dir_ + ": " + error.message();
    }
    lock_fd_ = ::open((dir_ + "/lock").c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    if (lock_fd_ < 0) {
        return "cannot open " + dir_ + "/lock: " + std::strerror(errno);
    }
    if (::flock(lock_fd_, LOCK_EX | LOCK_NB) != 0) {
        close_fd(lock_fd_);
        return dir_ + " is in use by another netd (its lock file is held)";
    }
    position_fd_ = ::open((dir_ + "/position").c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    if (position_fd_ < 0) {
        return "cannot open " + dir_ + "/position: " + std::strerror(errno);
    }
    char text[position_size + 1] = {};
    const ssize_t n = ::pread(position_fd_, text, position_size, 0);
    unsigned long long segment = 0;
    unsigned long long offset = 0;
    if (n > 0 && std::sscanf(text, "%llu %llu", &segment, &offset) == 2) {
        confirmed_ = {segment, offset};
    }
    const auto [oldest, newest] = segment_range();
    oldest_ = oldest == 0 ? newest + 1 : oldest;
    if (confirmed_.segment < oldest_) {
        confirmed_ = {oldest_, 0};  // what it named was confirmed and deleted, or never existed
    }
    // A segment a killed netd was writing may end in part of a frame: every segment found is
    // sealed (the reader skips such a tail), and writing starts in a new one.
    newest_ = newest + 1;
    sealed_ = newest;
    const int fd = ::open(segment_path(newest_).c_str(), O_WRONLY | O_CREAT | O_CLOEXEC, 0600);
    if (fd < 0) {
        return "cannot make " + segment_path(newest_) + ": " + std::strerror(errno);
    }
    ::close(fd);
    if (newest > 0) {
        const int last = ::open(segment_path(newest).c_str(), O_RDONLY | O_CLOEXEC);
        if (last >= 0) {
            ::flock(last, LOCK_EX);  // a writer of the previous netd's tree still inside it
            ::close(last);
        }
    }
    write_position();
    return {};
}

void Spool::enter_child() {
    child_ = true;
    close_fd(read_fd_);
    close_fd(position_fd_);
    // lock_fd_ stays open (it is the parent's lock, shared), and is closed with the child.
}

bool Spool::open_newest() {
    close_fd(append_fd_);
    append_segment_ = segment_range().second;
    if (append_segment_ == 0) {
        errno = ENOENT;
        return false;
    }
    append_fd_ = ::open(segment_path(append_segment_).c_str(), O_WRONLY | O_APPEND | O_CLOEXEC);
    return append_fd_ >= 0;
}

bool Spool::append(std::string_view& frames) {
    while (!frames.empty()) {
        if (append_fd_ < 0 && !open_newest()) {
            return false;
        }
        ::flock(append_fd_, LOCK_SH);
        // Still the newest, and not dropped (segments are dropped oldest first, so one after it
        // cannot be gone while it is there): maintenance waits for this lock before sealing it.
        struct stat own {};
        struct stat next {};
        const std::string next_path = segment_path(append_segment_ + 1);
        if (::fstat(append_fd_, &own) != 0 || own.st_nlink == 0 ||
            ::stat(next_path.c_str(), &next) == 0) {
            ::flock(append_fd_, LOCK_UN);
            if (!open_newest()) {
                return false;
            }
            continue;
        }
        const auto size = static_cast<std::uint64_t>(own.st_size);
        if (size >= segment_size_) {
            // Full: the next segment starts here, whoever writes; every writer moves on to it,
            // and the parent's maintenance seals this one.
            ::flock(append_fd_, LOCK_UN);
            const int fd = ::open(next_path.c_str(), O_WRONLY | O_CREAT | O_CLOEXEC, 0600);
            if (fd < 0 || !open_newest()) {
                if (fd >= 0) {
                    ::close(fd);
                }
                return false;
            }
            ::close(fd);
            continue;
        }
        // Whole frames up to the room left (at least one), so that segments keep their size
        // and dropping the oldest drops a sixteenth of the spool, not a batch of any size.
        const WholeFrames fit = whole_frames(frames, UINT64_MAX, segment_size_ - size);
        // Not whole frames (never from the forwarder): written as they are.
        const std::size_t take = fit.count == 0 ? frames.size() : fit.bytes;
        std::string_view part = frames.substr(0, take);
        const bool ok = write_all(append_fd_, part);
        const int saved = errno;
        ::flock(append_fd_, LOCK_UN);
        frames.remove_prefix(take - part.size());
        if (!ok) {
            errno = saved;
            return false;
        }
    }
    return true;
}

SpoolCount Spool::count(std::uint64_t segment, std::uint64_t offset) const {
    SpoolCount counted;
    const int fd = ::open(segment_path(segment).c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        return counted;
    }
    std::vector<char> buffer(std::size_t{256} * 1024);
    std::size_t held = 0;
    for (;;) {
        const ssize_t n = ::pread(fd, buffer.data() + held, buffer.size() - held,
                                  static_cast<off_t>(offset + held));
        if (n <= 0) {
            break;
        }
        held += static_cast<std::size_t>(n);
        const WholeFrames frames = whole_frames(std::string_view(buffer.data(), held));
        counted.records += frames.count;
        counted.bytes += frames.bytes;
        const std::size_t used = frames.bytes;
        if (frames.garbage) {
            break;  // not frames: the reader skips the rest too
        }
        if (used == 0 && held == buffer.size()) {
            buffer.resize(buffer.size() * 2);  // one frame longer than the buffer
        }
        std::memmove(buffer.data(), buffer.data() + used, held - used);
        held -= used;
        offset += used;
    }
    ::close(fd);
    return counted;
}

SpoolCount Spool::waiting() {
    const std::lock_guard lock(mutex_);
    SpoolCount total;
    for (std::uint64_t segment = confirmed_.segment; segment <= newest_; ++segment) {
        const SpoolCount part =
            count(segment, segment == confirmed_.segment ? confirmed_.offset : 0);
        total.records += part.records;
        total.bytes += part.bytes;
    }
    return total;
}

SpoolCount Spool::maintain() {
    SpoolCount dropped;
    const std::lock_guard lock(mutex_);
    // Writers start segments (append); here the full ones are sealed for the reader: once this
    // exclusive lock is had, no writer is inside, and none enters again (they look for the
    // next segment under a shared one).
    const std::uint64_t newest = std::max(newest_, segment_range().second);
    for (std::uint64_t segment = sealed_ + 1; segment < newest; ++segment) {
        const int fd = ::open(segment_path(segment).c_str(), O_RDONLY | O_CLOEXEC);
        if (fd >= 0) {
            ::flock(fd, LOCK_EX);
            ::flock(fd, LOCK_UN);
            ::close(fd);
        }
        sealed_ = segment;
    }
    newest_ = newest;
    std::uint64_t total = 0;
    std::vector<std::pair<std::uint64_t, std::uint64_t>> sizes;
    for (std::uint64_t segment = oldest_; segment <= newest_; ++segment) {
        struct stat st {};
        const std::uint64_t size = ::stat(segment_path(segment).c_str(), &st) == 0
                                       ? static_cast<std::uint64_t>(st.st_size)
                                       : 0;
        sizes.emplace_back(segment, size);
        total += size;
    }
    // The oldest go first; the newest, which writers use, never.
    for (const auto& [segment, size] : sizes) {
        if (total <= max_bytes_ || segment >= newest_) {
            break;
        }
        // Held exclusively while counted and removed: a writer still inside it (a fork child
        // that has not seen the newer segments yet) finishes first, and is counted.
        const int fd = ::open(segment_path(segment).c_str(), O_RDONLY | O_CLOEXEC);
        if (fd >= 0) {
            ::flock(fd, LOCK_EX);
        }
        if (segment >= confirmed_.segment) {
            const SpoolCount part =
                count(segment, segment == confirmed_.segment ? confirmed_.offset : 0);
            dropped.records += part.records;
            dropped.bytes += part.bytes;
        }
        ::unlink(segment_path(segment).c_str());
        if (fd >= 0) {
            ::close(fd);
        }
        total -= size;
        oldest_ = segment + 1;
    }
    if (confirmed_.segment < oldest_) {
        confirmed_ = {oldest_, 0};
        write_position();
    }
    return dropped;
}

void Spool::set_max_bytes(std::uint64_t max_bytes) {
    const std::lock_guard lock(mutex_);
    max_bytes_ = max_bytes;
}

std::uint64_t Spool::max_bytes() {
    const std::lock_guard lock(mutex_);
    return max_bytes_;
}

int Spool::reader_fd(std::uint64_t segment) {
    if (read_fd_ < 0 || read_segment_ != segment) {
        close_fd(read_fd_);
        read_fd_ = ::open(segment_path(segment).c_str(), O_RDONLY | O_CLOEXEC);
        read_segment_ = segment;
    }
    return read_fd_;
}

std::size_t Spool::read(SpoolPlace place, char* buffer, std::size_t size, bool& sealed) {
    const std::lock_guard lock(mutex_);
    sealed = place.segment <= sealed_;
    if (place.segment < oldest_) {
        return 0;  // dropped: next() moves on
    }
    const int fd = reader_fd(place.segment);
    if (fd < 0) {
        return 0;
    }
    const ssize_t n = ::pread(fd, buffer, size, static_cast<off_t>(place.offset));
    return n > 0 ? static_cast<std::size_t>(n) : 0;
}

SpoolPlace Spool::next(SpoolPlace place) {
    const std::lock_guard lock(mutex_);
    return {std::max(place.segment + 1, oldest_), 0};
}

SpoolPlace Spool::confirmed() {
    const std::lock_guard lock(mutex_);
    return confirmed_;
}

void Spool::confirm(SpoolPlace place) {
    const std::lock_guard lock(mutex_);
    if (place <= confirmed_) {
        return;
    }
    for (std::uint64_t segment = std::max(oldest_, confirmed_.segment);
         segment < place.segment && segment < newest_; ++segment) {
        ::unlink(segment_path(segment).c_str());
        oldest_ = segment + 1;
    }
    confirmed_ = place;
    write_position();
}

void Spool::write_position() {
    char text[position_size];
    std::memset(text, ' ', sizeof(text));
    const int length = std::snprintf(text, sizeof(text), "%llu %llu\n",
                                     static_cast<unsigned long long>(confirmed_.segment),
                                     static_cast<unsigned long long>(confirmed_.offset));
    if (length > 0 && static_cast<std::size_t>(length) < sizeof(text)) {
        text[length] = ' ';
    }
    if (::pwrite(position_fd_, text, sizeof(text), 0) != static_cast<ssize_t>(sizeof(text))) {
        BOOST_LOG_TRIVIAL(error) << "forward: cannot write " << dir_
                                 << "/position: " << std::strerror(errno);
    }
}

}  // namespace netd
