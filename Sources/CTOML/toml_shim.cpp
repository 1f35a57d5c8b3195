// toml++ behind a C API: parse TOML, write positioned JSON (see asth_toml.h).
//
// toml++ is used header-only, so the binary does not depend on the shared
// library's build options; formatters are left out because the JSON below
// carries positions, which toml++'s own JSON formatter does not.
#define TOML_HEADER_ONLY 1
#define TOML_ENABLE_FORMATTERS 0
#define TOML_EXCEPTIONS 1
#include <toml++/toml.h>

#include <pthread.h>

#include <algorithm>
#include <cctype>
#include <cinttypes>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <new>
#include <string>
#include <string_view>
#include <vector>

#include "asth_toml.h"

namespace {

/// Stack bytes the parser thread reserves per byte of input.
///
/// toml++ builds tables from dotted keys without recursion but destroys them
/// recursively: measured, about 90 bytes of stack per level at -O2 and under
/// 500 at -O0. Each level costs at least two bytes of input (`a.`), so 512
/// bytes per input byte covers even an unoptimised build, with a ten-fold
/// margin at -O2. The stack is reserved, not touched: only hostile input makes
/// the thread use much of it (a 256 KiB file reserves 128 MiB of addresses).
constexpr size_t stackBytesPerInputByte = 512;

/// The least stack the parser thread gets, whatever the input length.
constexpr size_t stackBytesMin = size_t(8) << 20;

/// Longest dotted key quoted in an error before it is cut short.
constexpr size_t errorKeyBytesMax = 256;

/// Copies `text` into a malloc'd, NUL-terminated string; NULL when out of
/// memory, which the caller reports as the lesser evil of a missing detail.
char *duplicate(std::string_view text) noexcept {
    char *copy = static_cast<char *>(std::malloc(text.size() + 1));
    if (copy == nullptr) return nullptr;
    std::memcpy(copy, text.data(), text.size());
    copy[text.size()] = '\0';
    return copy;
}

/// Fills `error` with a status, a position and owned copies of the strings.
void fail(
    asth_toml_error *error, asth_toml_status status, toml::source_position where,
    std::string_view message, std::string_view key = {}) noexcept {
    error->status = status;
    error->line = where.line;
    error->column = where.column;
    error->message = duplicate(message);
    error->key = key.empty() ? nullptr : duplicate(key);
}

/// Raised inside the writer when a container nests too deep; caught in `run`.
struct TooDeep {
    toml::source_position where;
    std::string key;
};

/// Writes one toml++ tree as positioned JSON into `out`.
class JSONWriter {
  public:
    JSONWriter(std::string &out, size_t depthMax) : out(out), depthMax(depthMax) {}

    /// Writes the root table, which starts at line 1, column 1.
    void writeRoot(const toml::table &root) {
        path.clear();
        writeNode(root, {1, 1}, 0);
    }

  private:
    std::string &out;
    const size_t depthMax;
    /// One step from the root: a key, or an index into an array.
    struct Step {
        std::string key;
        size_t index;
        bool isIndex;
    };
    /// The steps from the root to the node being written.
    std::vector<Step> path;

    void writeNode(const toml::node &node, toml::source_position where, size_t depth) {
        // Containers count toward the depth; the root is depth 1.
        if (node.is_table() || node.is_array()) {
            if (depth + 1 > depthMax) throw TooDeep{where, dottedPath()};
        }

        out += "{\"line\":" + std::to_string(where.line);
        out += ",\"column\":" + std::to_string(where.column) + ",\"type\":";
        if (auto table = node.as_table()) {
            out += "\"table\",\"value\":";
            writeTable(*table, depth + 1);
        } else if (auto array = node.as_array()) {
            out += "\"array\",\"value\":";
            writeArray(*array, depth + 1);
        } else {
            writeScalar(node);
        }
        out += '}';
    }

    void writeTable(const toml::table &table, size_t depth) {
        out += '{';
        bool first = true;
        for (auto &&[key, value] : table) {
            if (!first) out += ',';
            first = false;
            writeString(key.str());
            out += ':';

            // A key's own position is where a person looks; the value's is
            // the fallback for tables that toml++ made without one.
            toml::source_position where = key.source().begin;
            if (where.line == 0) where = value.source().begin;
            path.push_back(Step{std::string(key.str()), 0, false});
            writeNode(value, where, depth);
            path.pop_back();
        }
        out += '}';
    }

    void writeArray(const toml::array &array, size_t depth) {
        out += '[';
        for (size_t index = 0; index < array.size(); index++) {
            if (index > 0) out += ',';
            path.push_back(Step{{}, index, true});
            writeNode(array[index], array[index].source().begin, depth);
            path.pop_back();
        }
        out += ']';
    }

    void writeScalar(const toml::node &node) {
        char buffer[64];
        if (auto text = node.as_string()) {
            out += "\"string\",\"value\":";
            writeString(text->get());
        } else if (auto integer = node.as_integer()) {
            std::snprintf(buffer, sizeof buffer, "%" PRId64, integer->get());
            out += "\"integer\",\"value\":";
            out += buffer;
        } else if (auto real = node.as_floating_point()) {
            out += "\"float\",\"value\":";
            writeFloat(real->get());
        } else if (auto boolean = node.as_boolean()) {
            out += "\"boolean\",\"value\":";
            out += boolean->get() ? "true" : "false";
        } else if (auto date = node.as_date()) {
            out += "\"date\",\"value\":\"" + formatDate(date->get()) + "\"";
        } else if (auto time = node.as_time()) {
            out += "\"time\",\"value\":\"" + formatTime(time->get()) + "\"";
        } else if (auto stamp = node.as_date_time()) {
            out += "\"date-time\",\"value\":\"" + formatDateTime(stamp->get()) + "\"";
        } else {
            out += "\"unknown\",\"value\":null";
        }
    }

    /// Finite values as JSON numbers that read back exactly (17 significant
    /// digits); infinities and NaN, which JSON lacks, as strings.
    void writeFloat(double value) {
        if (std::isnan(value)) {
            out += "\"nan\"";
        } else if (std::isinf(value)) {
            out += value > 0 ? "\"inf\"" : "\"-inf\"";
        } else {
            char buffer[64];
            std::snprintf(buffer, sizeof buffer, "%.17g", value);
            out += buffer;
        }
    }

    /// A JSON string literal; toml++ has already checked that `text` is UTF-8.
    void writeString(std::string_view text) {
        out += '"';
        for (unsigned char byte : text) {
            if (byte == '"' || byte == '\\') {
                out += '\\';
                out += char(byte);
            } else if (byte < 0x20 || byte == 0x7F) {
                char escape[8];
                std::snprintf(escape, sizeof escape, "\\u%04x", byte);
                out += escape;
            } else {
                out += char(byte);
            }
        }
        out += '"';
    }

    /// A key as TOML would write it: bare when it is `A-Za-z0-9_-` only,
    /// else a basic string with quotes, backslashes and controls escaped.
    static std::string quotedKey(const std::string &key) {
        bool isBare = !key.empty();
        for (unsigned char byte : key) {
            isBare = isBare && (std::isalnum(byte) || byte == '_' || byte == '-') && byte < 0x80;
        }
        if (isBare) return key;
        std::string text = "\"";
        for (unsigned char byte : key) {
            switch (byte) {
            case '"': text += "\\\""; break;
            case '\\': text += "\\\\"; break;
            case '\b': text += "\\b"; break;
            case '\t': text += "\\t"; break;
            case '\n': text += "\\n"; break;
            case '\f': text += "\\f"; break;
            case '\r': text += "\\r"; break;
            default:
                if (byte < 0x20 || byte == 0x7F) {
                    char escape[8];
                    std::snprintf(escape, sizeof escape, "\\u%04X", byte);
                    text += escape;
                } else {
                    text += char(byte);
                }
            }
        }
        return text + "\"";
    }

    static std::string formatDate(const toml::date &date) {
        char buffer[32];
        std::snprintf(
            buffer, sizeof buffer, "%04u-%02u-%02u", unsigned(date.year), unsigned(date.month),
            unsigned(date.day));
        return buffer;
    }

    /// `hh:mm:ss`, then the fraction without trailing zeros when there is one.
    static std::string formatTime(const toml::time &time) {
        char buffer[32];
        std::snprintf(
            buffer, sizeof buffer, "%02u:%02u:%02u", unsigned(time.hour), unsigned(time.minute),
            unsigned(time.second));
        std::string text = buffer;
        if (time.nanosecond != 0) {
            std::snprintf(buffer, sizeof buffer, ".%09u", unsigned(time.nanosecond));
            std::string fraction = buffer;
            while (fraction.back() == '0') fraction.pop_back();
            text += fraction;
        }
        return text;
    }

    /// RFC 3339: `Z` for a zero offset, `±hh:mm` otherwise, nothing when local.
    static std::string formatDateTime(const toml::date_time &stamp) {
        std::string text = formatDate(stamp.date) + "T" + formatTime(stamp.time);
        if (!stamp.offset) return text;
        int minutes = stamp.offset->minutes;
        if (minutes == 0) return text + "Z";
        char buffer[16];
        std::snprintf(
            buffer, sizeof buffer, "%c%02d:%02d", minutes < 0 ? '-' : '+',
            std::abs(minutes) / 60, std::abs(minutes) % 60);
        return text + buffer;
    }

    /// The path to the current node, `a."b c"[2].d`, cut short at a code
    /// point boundary when it is very long. Keys that are not bare are quoted
    /// and escaped, so that a hostile key cannot break a one-line message.
    std::string dottedPath() const {
        std::string text;
        for (const Step &step : path) {
            if (step.isIndex) {
                text += "[" + std::to_string(step.index) + "]";
            } else {
                if (!text.empty()) text += '.';
                text += quotedKey(step.key);
            }
            if (text.size() > errorKeyBytesMax) break;
        }
        if (text.size() <= errorKeyBytesMax) return text;
        size_t cut = errorKeyBytesMax;
        while (cut > 0 && (static_cast<unsigned char>(text[cut]) & 0xC0) == 0x80) cut--;
        return text.substr(0, cut) + "\u2026";
    }
};

/// One conversion, handed to the parser thread and back.
struct Job {
    std::string_view text;
    size_t depthMax;
    std::string json;
    asth_toml_error *error;
};

/// Parses and converts; every exception ends here as a status.
void run(Job &job) noexcept {
    try {
        toml::table root = toml::parse(job.text);
        JSONWriter(job.json, job.depthMax).writeRoot(root);
    } catch (const toml::parse_error &problem) {
        fail(job.error, ASTH_TOML_SYNTAX, problem.source().begin, problem.description());
    } catch (const TooDeep &problem) {
        fail(job.error, ASTH_TOML_TOO_DEEP, problem.where, "nested too deep", problem.key);
    } catch (const std::bad_alloc &) {
        fail(job.error, ASTH_TOML_RESOURCES, {}, "out of memory");
    } catch (...) {
        fail(job.error, ASTH_TOML_RESOURCES, {}, "unexpected C++ exception in the TOML parser");
    }
}

void *runOnThread(void *argument) {
    run(*static_cast<Job *>(argument));
    return nullptr;
}

/// Runs `job` on a thread whose stack fits the deepest tree `job.text` can
/// describe (see `stackBytesPerInputByte`), whatever thread the caller is on.
void runWithStack(Job &job) noexcept {
    size_t stackBytes = std::max(stackBytesMin, job.text.size() * stackBytesPerInputByte);
    pthread_attr_t attributes;
    pthread_t thread;
    int status = pthread_attr_init(&attributes);
    if (status == 0) status = pthread_attr_setstacksize(&attributes, stackBytes);
    if (status == 0) status = pthread_create(&thread, &attributes, runOnThread, &job);
    pthread_attr_destroy(&attributes);
    if (status != 0) {
        std::string message = "cannot start the TOML parser thread: ";
        fail(job.error, ASTH_TOML_RESOURCES, {}, message + std::strerror(status));
        return;
    }
    pthread_join(thread, nullptr);
}

}  // namespace

extern "C" char *asth_toml_to_json(
    const char *text, size_t length, size_t bytes_max, size_t depth_max,
    asth_toml_error *error) {
    *error = asth_toml_error{ASTH_TOML_OK, 0, 0, nullptr, nullptr};

    // Refuse oversized input before toml++ sees a byte of it.
    if (length > bytes_max) {
        fail(error, ASTH_TOML_TOO_LARGE, {}, "the text is larger than the limit");
        return nullptr;
    }

    // Parse and convert on a thread with room for the deepest legal tree.
    std::string_view input = text == nullptr ? std::string_view() : std::string_view(text, length);
    Job job{input, depth_max, {}, error};
    runWithStack(job);
    if (error->status != ASTH_TOML_OK) return nullptr;

    char *json = duplicate(job.json);
    if (json == nullptr) fail(error, ASTH_TOML_RESOURCES, {}, "out of memory");
    return json;
}

extern "C" void asth_toml_free(char *json) { std::free(json); }

extern "C" void asth_toml_error_clear(asth_toml_error *error) {
    if (error == nullptr) return;
    std::free(error->message);
    std::free(error->key);
    *error = asth_toml_error{ASTH_TOML_OK, 0, 0, nullptr, nullptr};
}
