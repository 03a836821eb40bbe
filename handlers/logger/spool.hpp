#pragma once
// The forwarder's queue on disk (SPEC 10): every forwarded record is written here before it is
// sent, and stays until the collector has it, so that records survive a collector outage, a netd
// restart and a netd SIGKILL (the page cache keeps what a killed process wrote).
//
// The directory holds numbered segment files of octet-counted frames, exactly the bytes the
// wire carries, and a position file naming the first byte not yet confirmed. Writers append
// whole batches with O_APPEND under a shared flock on the newest segment; fork-mode children do
// so themselves, which is why segments are found by name and not handed around. The parent's
// maintenance starts a new segment when the newest is full, and seals the old one by taking its
// flock exclusively once: after that no writer can be inside it, so a reader at its end may go on
// to the next. A directory belongs to one process tree: its lock file is held while it runs.

#include <compare>
#include <cstdint>
#include <mutex>
#include <string>
#include <string_view>

namespace netd {

/// A byte in the spool: a segment's number and an offset in it.
struct SpoolPlace {
    std::uint64_t segment = 0;
    std::uint64_t offset = 0;
    // clang-tidy 14 reads the defaulted <=> as a literal 0 compared with a pointer.
    auto operator<=>(const SpoolPlace&) const = default;  // NOLINT(modernize-use-nullptr)
};

/// Records and bytes, counted together.
struct SpoolCount {
    std::uint64_t records = 0;
    std::uint64_t bytes = 0;
};

class Spool {
  public:
    /// At most max_bytes of segments are kept; a segment is a sixteenth of that, 64 KiB to
    /// 16 MiB, so that dropping the oldest drops a small part.
    Spool(std::string dir, std::uint64_t max_bytes);
    Spool(const Spool&) = delete;
    Spool& operator=(const Spool&) = delete;
    ~Spool();

    /// Makes the directory, takes its lock, reads the confirmed position, seals every segment
    /// there and starts a new one. "" or why not.
    std::string open();

    /// Appends whole frames to the newest segment, starting the next one when it is full, from
    /// any process of the tree; removes what it wrote from frames. False (errno set) when the
    /// disk refused the rest.
    bool append(std::string_view& frames);

    /// fork mode, in a new child: the lock and the reader's files are the parent's.
    void enter_child();

    /// Parent: seals the segments writers have left, and deletes the oldest segments while the
    /// spool is over its size; returns what those held that was not confirmed.
    SpoolCount maintain();

    /// Reads up to size bytes at place into buffer; returns how many (0 at the segment's end).
    /// sealed says whether the segment will grow no more.
    std::size_t read(SpoolPlace place, char* buffer, std::size_t size, bool& sealed);

    /// The first place of the segment after place's, or of the oldest segment kept when place's
    /// was dropped.
    SpoolPlace next(SpoolPlace place);

    /// Where reading starts: the confirmed place (which maintain may have moved past dropped
    /// segments).
    SpoolPlace confirmed();

    /// Everything before place is with the collector: persists place and deletes the segments
    /// wholly before it. Ignored when before the confirmed place.
    void confirm(SpoolPlace place);

    /// What is not confirmed yet (scans the frames: at start, before children exist).
    SpoolCount waiting();

    /// A reload's forward_spool_max (segments keep their size).
    void set_max_bytes(std::uint64_t max_bytes);
    std::uint64_t max_bytes();

    const std::string& dir() const { return dir_; }

  private:
    std::string segment_path(std::uint64_t segment) const;
    /// The numbers of the oldest and newest segment files (0, 0 when there are none).
    std::pair<std::uint64_t, std::uint64_t> segment_range() const;
    /// Opens the newest segment for appending into append_fd_.
    bool open_newest();
    /// Records and bytes in a segment from offset on.
    SpoolCount count(std::uint64_t segment, std::uint64_t offset) const;
    void write_position();
    /// An open file of a segment for reading (one kept open).
    int reader_fd(std::uint64_t segment);

    std::string dir_;
    std::uint64_t max_bytes_;
    std::uint64_t segment_size_;
    int lock_fd_ = -1;
    int position_fd_ = -1;
    int append_fd_ = -1;
    std::uint64_t append_segment_ = 0;
    bool child_ = false;

    std::mutex mutex_;  ///< the parent's reader and maintenance share what follows
    SpoolPlace confirmed_;
    std::uint64_t oldest_ = 0;  ///< the oldest segment kept
    std::uint64_t newest_ = 0;  ///< the segment writers append to
    std::uint64_t sealed_ = 0;  ///< segments up to this one grow no more
    int read_fd_ = -1;
    std::uint64_t read_segment_ = 0;
};

}  // namespace netd
