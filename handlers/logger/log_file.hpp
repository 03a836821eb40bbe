#pragma once
// One log file with one writer thread. Sessions append whole records to a buffer; the writer
// swaps it out and writes it in one batch, so the event loop never waits for the disk. The first
// record of a batch wakes the writer, which lets the batch fill for up to 10 ms (flush_interval if
// shorter) before writing: under load batches grow while the disk is busy, and when input stops
// the last records are written within those 10 ms. A failing disk is retried, the records kept
// in a bounded buffer; when the buffer is past its high mark, stream readers are asked to pause.
//
// Several handlers may use one file: the services of one configuration that name it, and those of
// the configuration before a reload while their connections finish. The writer runs while any of
// them does. Settings change in two steps, as a reload does: the handlers of a new configuration
// stage theirs when they start (and must agree), and they apply once it commits.

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <thread>

#include "handlers/logger/staged_options.hpp"
#include "metrics/registry.hpp"

namespace netd {

struct LogFileOptions {
    std::string path;
    std::chrono::milliseconds flush_interval{1000};
    bool fsync = false;
    std::uint64_t rotate_size = 0;  ///< 0 = never rotate
    unsigned max_files = 5;         ///< rotated files kept: path.1 (newest) .. path.max_files
};

class LogFile {
  public:
    /// Records waiting past this make backlogged() true (stream readers pause).
    static constexpr std::size_t pause_above = std::size_t{8} * 1024 * 1024;
    /// Records waiting past this are refused by try_append (datagrams are dropped).
    static constexpr std::size_t refuse_above = std::size_t{64} * 1024 * 1024;
    /// A batch this large wakes the writer before flush_interval.
    static constexpr std::size_t batch_size = std::size_t{1024} * 1024;

    /// The shared writer for options.path: services naming the same file share one writer, made
    /// with the options of the first to ask (see stage() for the others'). Nothing is opened
    /// until start().
    static std::shared_ptr<LogFile> for_path(const LogFileOptions& options);

    explicit LogFile(LogFileOptions options);
    LogFile(const LogFile&) = delete;
    LogFile& operator=(const LogFile&) = delete;
    ~LogFile();

    /// A user (a handler) begins writing: the first opens the file and starts the writer. Returns
    /// why it could not ("" on success). Each successful start() is matched by one stop().
    std::string start();

    /// A handler of a configuration being started asks for options' settings; returns "" or the
    /// first key whose value differs from what another handler of that configuration asked for
    /// (one file has one writer, so its services must agree). Each stage() is matched by one
    /// commit() or unstage().
    std::string_view stage(const LogFileOptions& options);
    /// The configuration is now the running one: the staged settings apply from the next batch.
    void commit();
    /// The configuration was not taken (a reload that failed): forget what its handler staged.
    void unstage();

    /// Queues whole records (already read from a client, so never refused).
    void append(std::string_view records);

    /// Queues whole records unless refuse_above bytes are waiting; false when refused.
    bool try_append(std::string_view records);

    /// Whether readers should pause: more than pause_above bytes are waiting.
    /// (In a fork-mode child: records the disk refused are waiting, and are retried now if a
    /// second has passed.)
    bool backlogged();

    /// Closes and reopens the file at the next batch (after logrotate renamed it).
    void reopen();

    /// A user is done: the last one writes everything queued, then stops the writer.
    void stop();

    /// fork mode, in a new child: the writer thread is the parent's, so from now on every
    /// append writes its records straight to the file, whole (O_APPEND, one write per call, so
    /// concurrent children never interleave records); records the parent had queued are the
    /// parent's to write. Records the disk refuses wait in memory and make backlogged() true, so
    /// the child stops reading until they are written; reopen() and rotation work as in the
    /// parent.
    void enter_child();

    const std::string& path() const { return options_.path; }

  private:
    /// Writes everything queued, then stops the writer. Idempotent.
    void shutdown();
    /// A child's append: writes what is waiting, then records.
    void write_through(std::string_view records);
    void close_child_file();

    void run();
    /// Writes back_ from written_ (and syncs, with fsync); false when the disk refused (back_
    /// keeps the rest).
    bool write_batch(bool fsync);
    /// Finds counters_ (once).
    void count_in_metrics();
    /// write_all, counting the records and bytes written and the failure in counters_.
    bool write_counted(int fd, std::string_view& bytes);
    /// With fsync, flushes fd to the disk; false when that failed.
    static bool synced(int fd, bool fsync);
    /// Rotates the file and opens a new path.
    void rotate(unsigned max_files);
    /// Renames path -> path.1 -> ... -> path.max_files, unless another process did already
    /// (path no longer names the file open as fd).
    void rotate_file(int fd, unsigned max_files);
    /// Opens options_.path for appending; "" or why not.
    std::string open_file();

    LogFileOptions options_;            ///< (under mutex_ once the writer runs)
    std::chrono::milliseconds linger_;  ///< how long a batch may fill before it is written
    mutable std::mutex mutex_;
    unsigned users_ = 0;                    ///< started and not stopped (under mutex_)
    StagedOptions<LogFileOptions> staged_;  ///< asked for by the configuration being started
    std::condition_variable wake_;
    std::string front_;        ///< where sessions append (under mutex_)
    std::string back_;         ///< the batch being written (writer thread only)
    std::size_t written_ = 0;  ///< how much of back_ is on disk
    std::size_t waiting_ = 0;  ///< front_ + unwritten back_ (under mutex_)
    bool reopen_ = false;
    bool stopping_ = false;
    bool started_ = false;
    /// fork-mode child: write_through owns child_fd_, and the members above (which the parent's
    /// threads may have held at fork time) are not touched.
    bool child_ = false;
    int child_fd_ = -1;
    std::string child_waiting_;  ///< records the disk refused, retried by backlogged()
    std::chrono::steady_clock::time_point child_last_try_;
    int fd_ = -1;
    /// This file's metrics row, from start() (or enter_child()): not when the file is only made,
    /// as validation (--check-config) does.
    metrics::Row* counters_ = nullptr;
    std::thread writer_;
};

}  // namespace netd
