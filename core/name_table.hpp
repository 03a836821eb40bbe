#pragma once
// Name tables, like Redis's command table: the handlers and the custom verifiers are each a list
// of specs with a `name`, found by it; registering a name again replaces its entry.

#include <string_view>
#include <vector>

namespace netd {

/// The entry named name, or nullptr.
template <class Spec>
const Spec* find_by_name(const std::vector<Spec>& table, std::string_view name) {
    for (const auto& spec : table) {
        if (spec.name == name) {
            return &spec;
        }
    }
    return nullptr;
}

/// Adds spec; a name already there is replaced.
template <class Spec>
void add_by_name(std::vector<Spec>& table, const Spec& spec) {
    if (const auto* found = find_by_name(table, spec.name)) {
        table[static_cast<std::size_t>(found - table.data())] = spec;
    } else {
        table.push_back(spec);
    }
}

}  // namespace netd
