#include "handlers/logger/log_file.hpp"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <boost/log/trivial.hpp>
#include <cerrno>
#include <cstring>
#include <map>

#include "core/write_all.hpp"

namespace netd {

namespace {

/// How long the writer waits before retrying after the disk refused a write.
constexpr std::chrono::seconds retry_delay{1};
/// How long the writer lets a batch fill up before writing it, unless flush_interval is shorter.
constexpr std::chrono::milliseconds max_linger{10};
/// Repeated write errors are logged at most this often.
constexpr std::chrono::seconds error_log_interval{10};

/// The inode of the open file, or 0.
ino_t inode_of_fd(int fd) {
    struct stat st {};
    return ::fstat(fd, &st) == 0 ? st.st_ino : 0;
}

/// The size of the open file, or 0.
std::uint64_t size_of_fd(int fd) {
    struct stat st {};
    return ::fstat(fd, &st) == 0 ? static_cast<std::uint64_t>(st.st_size) : 0;
}

/// Whether path still names the file open as fd (it was not renamed by rotation or logrotate).
bool still_named(const std::string& path, int fd) {
    struct stat st {};
    return ::stat(path.c_str(), &st) == 0 && st.st_ino == inode_of_fd(fd);
}

}  // namespace

std::shared_ptr<LogFile> LogFile::for_path(const LogFileOptions& options) {
    static std::mutex mutex;
    static std::map<std::string, std::weak_ptr<LogFile>> files;
    const std::lock_guard lock(mutex);
    auto& slot = files[options.path];
    auto file = slot.lock();
    if (!file) {
        file = std::make_shared<LogFile>(options);
        slot = file;
    }
    return file;
}

LogFile::LogFile(LogFileOptions options)
    : options_(std::move(options)), linger_(std::min(options_.flush_interval, max_linger)) {}

LogFile::~LogFile() {
    shutdown();
}

std::string LogFile::open_file() {
    const int fd = ::open(options_.path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0640);
    if (fd < 0) {
        return "cannot open " + options_.path + ": " + std::strerror(errno);
    }
    if (fd_ >= 0) {
        ::close(fd_);
    }
    fd_ = fd;
    return {};
}

std::string LogFile::start() {
    const std::lock_guard lock(mutex_);
    if (started_) {
        ++users_;
        return {};
    }
    if (auto why = open_file(); !why.empty()) {
        return why;
    }
    count_in_metrics();
    started_ = true;
    users_ = 1;
    writer_ = std::thread([this] { run(); });
    return {};
}

std::string_view LogFile::stage(const LogFileOptions& options) {
    const std::lock_guard lock(mutex_);
    return staged_.stage(options, [](const LogFileOptions& staged, const LogFileOptions& asked) {
        for (const auto& [key, same] :
             {std::pair{"flush_interval", staged.flush_interval == asked.flush_interval},
              {"fsync", staged.fsync == asked.fsync},
              {"rotate_size", staged.rotate_size == asked.rotate_size},
              {"max_files", staged.max_files == asked.max_files}}) {
            if (!same) {
                return std::string_view(key);
            }
        }
        return std::string_view();
    });
}

void LogFile::commit() {
    const std::lock_guard lock(mutex_);
    const LogFileOptions* staged = staged_.commit();
    if (staged == nullptr) {
        return;  // another handler of the configuration committed it already
    }
    options_.flush_interval = staged->flush_interval;  // the path is the same, and never written
    options_.fsync = staged->fsync;
    options_.rotate_size = staged->rotate_size;
    options_.max_files = staged->max_files;
    linger_ = std::min(options_.flush_interval, max_linger);
    wake_.notify_one();  // a writer lingering over a batch takes the new linger now
}

void LogFile::unstage() {
    const std::lock_guard lock(mutex_);
    staged_.unstage();
}

void LogFile::append(std::string_view records) {
    if (child_) {
        write_through(records);
        return;
    }
    const std::lock_guard lock(mutex_);
    front_.append(records);
    waiting_ += records.size();
    // One wake-up per batch: when it starts, and when it is full.
    const std::size_t before = front_.size() - records.size();
    if (before == 0 || (front_.size() >= batch_size && before < batch_size)) {
        wake_.notify_one();
    }
}

bool LogFile::try_append(std::string_view records) {
    if (child_) {
        write_through(records);
        return true;
    }
    {
        const std::lock_guard lock(mutex_);
        if (waiting_ + records.size() > refuse_above) {
            return false;
        }
    }
    append(records);
    return true;
}

bool LogFile::backlogged() {
    if (child_) {
        if (!child_waiting_.empty() &&
            std::chrono::steady_clock::now() - child_last_try_ >= retry_delay) {
            write_through({});
        }
        return !child_waiting_.empty();
    }
    const std::lock_guard lock(mutex_);
    return waiting_ > pause_above;
}

void LogFile::reopen() {
    if (child_) {
        close_child_file();  // write_through opens the file by name again
        return;
    }
    const std::lock_guard lock(mutex_);
    reopen_ = true;
    wake_.notify_one();
}

void LogFile::stop() {
    if (!child_) {
        const std::lock_guard lock(mutex_);
        if (users_ == 0 || --users_ > 0) {
            return;  // another handler still writes here
        }
    }
    shutdown();
}

void LogFile::shutdown() {
    if (child_) {
        if (!child_waiting_.empty()) {
            write_through({});
        }
        if (!child_waiting_.empty()) {
            BOOST_LOG_TRIVIAL(error) << "logger: stopping with " << child_waiting_.size()
                                     << " bytes of records not written to " << options_.path;
            std::string().swap(child_waiting_);
        }
        close_child_file();
        return;
    }
    {
        const std::lock_guard lock(mutex_);
        if (!started_ || stopping_) {
            return;
        }
        stopping_ = true;
        wake_.notify_one();
    }
    writer_.join();
    if (fd_ >= 0) {
        ::close(fd_);
        fd_ = -1;
    }
}

void LogFile::run() {
    std::unique_lock lock(mutex_);
    auto last_error_log = std::chrono::steady_clock::time_point{};
    bool failing = false;
    for (;;) {
        if (failing) {
            wake_.wait_for(lock, retry_delay, [&] { return stopping_ || reopen_; });
        } else {
            // Sleep until records come, then give the batch a moment to fill up.
            wake_.wait(lock, [&] { return stopping_ || reopen_ || !front_.empty(); });
            wake_.wait_for(lock, linger_,
                           [&] { return stopping_ || reopen_ || front_.size() >= batch_size; });
        }
        if (reopen_) {
            reopen_ = false;
            if (auto why = open_file(); !why.empty()) {
                BOOST_LOG_TRIVIAL(error) << "logger: " << why << "; still writing to the old file";
            }
        }
        // A batch the disk refused is retried as it is (what came meanwhile waits in front_).
        if (written_ == back_.size()) {
            back_.clear();
            written_ = 0;
            back_.swap(front_);
        }
        if (back_.empty()) {
            if (stopping_) {
                return;
            }
            continue;
        }
        // A reload's commit may change the settings meanwhile: this batch goes by these.
        const bool fsync = options_.fsync;
        const std::uint64_t rotate_size = options_.rotate_size;
        const unsigned max_files = options_.max_files;
        lock.unlock();
        const std::size_t before = written_;
        const bool ok = write_batch(fsync);
        if (!ok &&
            (!failing || std::chrono::steady_clock::now() - last_error_log > error_log_interval)) {
            BOOST_LOG_TRIVIAL(error)
                << "logger: cannot write " << options_.path << ": " << std::strerror(errno) << "; "
                << back_.size() - written_ << " bytes of records kept, retrying every second";
            last_error_log = std::chrono::steady_clock::now();
        } else if (ok && failing) {
            BOOST_LOG_TRIVIAL(warning) << "logger: writing " << options_.path << " again";
        }
        failing = !ok;
        // The real size: in fork mode children append to the file too.
        if (ok && rotate_size > 0 && size_of_fd(fd_) >= rotate_size) {
            rotate(max_files);
        }
        lock.lock();
        waiting_ -= written_ - before;
        if (stopping_ && failing) {
            BOOST_LOG_TRIVIAL(error) << "logger: stopping with " << waiting_
                                     << " bytes of records not written to " << options_.path;
            return;
        }
    }
}

bool LogFile::write_counted(int fd, std::string_view& bytes) {
    const std::string_view all = bytes;
    const bool ok = write_all(fd, bytes);
    const std::string_view done = all.substr(0, all.size() - bytes.size());
    counters_->add(metrics::records_written,
                   static_cast<std::uint64_t>(std::count(done.begin(), done.end(), '\n')));
    counters_->add(metrics::bytes_written, done.size());
    if (!ok) {
        counters_->add(metrics::write_errors);
    }
    return ok;
}

bool LogFile::write_batch(bool fsync) {
    std::string_view rest = std::string_view(back_).substr(written_);
    const bool ok = write_counted(fd_, rest);
    written_ = back_.size() - rest.size();
    // The data is written; a failed sync is reported, and the next batch syncs again.
    return ok && synced(fd_, fsync);
}

bool LogFile::synced(int fd, bool fsync) {
    return !fsync || ::fdatasync(fd) == 0 || errno == EINVAL;
}

void LogFile::enter_child() {
    count_in_metrics();  // a child of a started file has its row already
    child_ = true;
}

void LogFile::count_in_metrics() {
    if (counters_ == nullptr) {
        counters_ = &metrics::row(metrics::Family::log_file, metrics::label("file", options_.path));
    }
}

void LogFile::close_child_file() {
    if (child_fd_ >= 0) {
        ::close(child_fd_);
        child_fd_ = -1;
    }
}

void LogFile::write_through(std::string_view records) {
    // Only what the disk refuses is copied: in the common case records go out as they are.
    if (!child_waiting_.empty()) {
        child_waiting_.append(records);
        records = child_waiting_;
    }
    child_last_try_ = std::chrono::steady_clock::now();
    if (child_fd_ < 0) {
        child_fd_ = ::open(options_.path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0640);
    }
    std::string_view rest = records;
    const bool ok =
        child_fd_ >= 0 && write_counted(child_fd_, rest) && synced(child_fd_, options_.fsync);
    const bool was_failing = !child_waiting_.empty();
    if (!ok) {
        if (!was_failing) {
            BOOST_LOG_TRIVIAL(error)
                << "logger: cannot write " << options_.path << ": " << std::strerror(errno)
                << "; records kept, retrying every second";
        }
        child_waiting_.assign(rest);  // rest is a view of records: assign copes with overlap
        return;
    }
    if (was_failing) {
        BOOST_LOG_TRIVIAL(warning) << "logger: writing " << options_.path << " again";
        std::string().swap(child_waiting_);
    }
    if (options_.rotate_size > 0 && size_of_fd(child_fd_) >= options_.rotate_size) {
        rotate_file(child_fd_, options_.max_files);  // or another child or the parent did it
        close_child_file();
    }
}

void LogFile::rotate(unsigned max_files) {
    rotate_file(fd_, max_files);
    if (auto why = open_file(); !why.empty()) {
        BOOST_LOG_TRIVIAL(error) << "logger: " << why << "; still writing to the rotated file";
    }
}

void LogFile::rotate_file(int fd, unsigned max_files) {
    // fork-mode children and the parent may all find the file full at once: the one that holds
    // the lock and still finds the full file under its name rotates, the others just reopen.
    ::flock(fd, LOCK_EX);
    const bool current = still_named(options_.path, fd);
    if (current) {
        const auto numbered = [this](unsigned n) {
            return options_.path + "." + std::to_string(n);
        };
        ::unlink(numbered(max_files).c_str());
        for (unsigned n = max_files; n > 1; --n) {
            ::rename(numbered(n - 1).c_str(), numbered(n).c_str());
        }
        if (::rename(options_.path.c_str(), numbered(1).c_str()) != 0) {
            BOOST_LOG_TRIVIAL(error)
                << "logger: cannot rotate " << options_.path << ": " << std::strerror(errno);
        }
    }
    ::flock(fd, LOCK_UN);
}

}  // namespace netd
