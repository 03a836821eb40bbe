#include "metrics/registry.hpp"

#include <sys/mman.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <map>
#include <mutex>
#include <new>
#include <system_error>
#include <tuple>

namespace netd::metrics {

namespace {

constexpr std::size_t family_count = static_cast<std::size_t>(Family::loop) + 1;
/// Rows in the table, the last family_count of them the overflow rows. 256 bytes each: 2 MiB of
/// address space, of which only the pages of rows in use are ever touched.
constexpr std::uint32_t capacity = 8192;
constexpr std::uint32_t usable = capacity - family_count;

/// A row of the table: its key, written once before it is published, then its values.
struct Slot {
    std::atomic<std::uint32_t> published;  ///< 0 while the key is being written
    Family family;
    std::uint8_t labels_size;
    std::uint16_t shard;
    char labels[max_labels];
    Row row;
};

/// The start of the shared mapping; the slots follow it. Atomics are lock-free, hence
/// address-free: they work across the processes that share the pages.
struct alignas(64) Header {
    std::atomic<std::uint32_t> used;  ///< slots handed out (some may not be published yet)
    int owner;                        ///< the daemon's pid
};
static_assert(std::atomic<std::uint64_t>::is_always_lock_free);
static_assert(std::atomic<std::uint32_t>::is_always_lock_free);

struct Table {
    Header* header;
    Slot* slots;
};

/// Starts a slot's lifetime in the zeroed mapping and writes its key. (Slots are constructed
/// one by one as they are handed out: constructing the whole table would write, and so make
/// resident, every page of it.)
Slot& make_slot(void* where, Family family, std::string_view labels, unsigned shard) {
    auto* slot = new (where) Slot;
    slot->family = family;
    slot->shard = static_cast<std::uint16_t>(shard);
    std::memcpy(slot->labels, labels.data(), labels.size());
    slot->labels_size = static_cast<std::uint8_t>(labels.size());
    slot->published.store(1, std::memory_order_release);
    return *slot;
}

Table make_table() {
    const std::size_t size = sizeof(Header) + sizeof(Slot) * capacity;
    void* memory = ::mmap(nullptr, size, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if (memory == MAP_FAILED) {
        throw std::system_error(errno, std::generic_category(), "metrics: mmap");
    }
    auto* header = new (memory) Header;
    header->owner = static_cast<int>(::getpid());
    auto* slots = reinterpret_cast<Slot*>(static_cast<char*>(memory) + sizeof(Header));
    for (std::size_t f = 0; f < family_count; ++f) {
        make_slot(&slots[usable + f], static_cast<Family>(f), "overflow=\"true\"", 0);
    }
    return Table{header, slots};
}

const Table& table() {
    static const Table instance = make_table();
    return instance;
}

/// Serialises row creation within a process (processes racing each other can at worst make two
/// rows for one key, which collect() adds up).
std::mutex& creation() {
    static std::mutex mutex;
    return mutex;
}

thread_local unsigned current_shard = 0;

bool matches(const Slot& slot, Family family, std::string_view labels, unsigned shard) {
    return slot.published.load(std::memory_order_acquire) != 0 && slot.family == family &&
           slot.shard == shard && std::string_view(slot.labels, slot.labels_size) == labels;
}

}  // namespace

int daemon_pid() {
    return table().header->owner;
}

unsigned shard() {
    return current_shard;
}

void set_shard(unsigned shard) {
    current_shard = shard;
}

Row& row(Family family, std::string_view labels, unsigned shard) {
    const auto& t = table();
    if (labels.size() > max_labels) {
        return t.slots[usable + static_cast<std::size_t>(family)].row;  // see label()
    }
    const std::lock_guard lock(creation());
    const auto used = std::min(t.header->used.load(std::memory_order_acquire), usable);
    for (std::uint32_t i = 0; i < used; ++i) {
        if (matches(t.slots[i], family, labels, shard)) {
            return t.slots[i].row;
        }
    }
    const auto index = t.header->used.fetch_add(1, std::memory_order_acq_rel);
    if (index >= usable) {
        t.header->used.store(usable, std::memory_order_release);
        return t.slots[usable + static_cast<std::size_t>(family)].row;
    }
    return make_slot(&t.slots[index], family, labels, shard).row;
}

std::string label(std::string_view name, std::string_view value) {
    // Room for three labels of a row (service, transport, reason), names included. A longer
    // value keeps its end, which tells paths apart better than their start.
    constexpr std::size_t longest = 48;
    std::string text(name);
    text += "=\"";
    if (value.size() > longest) {
        text += "...";
        value.remove_prefix(value.size() - longest);
    }
    for (const char c : value) {
        switch (c) {
            case '\\':
                text += "\\\\";
                break;
            case '"':
                text += "\\\"";
                break;
            case '\n':
                text += "\\n";
                break;
            default:
                text += c;
        }
    }
    text += '"';
    return text;
}

std::vector<Series> collect() {
    const auto& t = table();
    std::map<std::pair<Family, std::string_view>, std::size_t> index;
    std::vector<Series> series;
    const auto add = [&](const Slot& slot) {
        if (slot.published.load(std::memory_order_acquire) == 0) {
            return;
        }
        const std::string_view labels(slot.labels, slot.labels_size);
        auto [found, fresh] = index.try_emplace({slot.family, labels}, series.size());
        if (fresh) {
            series.push_back(Series{slot.family, std::string(labels), {}});
        }
        auto& sum = series[found->second];
        for (std::size_t v = 0; v < row_values; ++v) {
            sum.values[v] += slot.row.get(v);
        }
    };
    const auto used = std::min(t.header->used.load(std::memory_order_acquire), usable);
    for (std::uint32_t i = 0; i < used; ++i) {
        add(t.slots[i]);
    }
    for (std::uint32_t i = usable; i < capacity; ++i) {
        add(t.slots[i]);
    }
    std::sort(series.begin(), series.end(), [](const Series& a, const Series& b) {
        return std::tie(a.family, a.labels) < std::tie(b.family, b.labels);
    });
    return series;
}

}  // namespace netd::metrics
