// A plain C face for toml++: TOML text in, positioned JSON out.
//
// Swift cannot call C++ templates or catch C++ exceptions, so this shim parses
// with toml++ and hands back JSON that Foundation's JSONDecoder reads. No C++
// exception crosses this boundary: every failure comes back as a status with
// its position and message.
//
// Every value becomes one JSON object that carries its kind and where it was
// written (for a table entry, where its key starts):
//
//   {"type": "table",  "line": 1, "column": 1, "value": {"name": {...}, ...}}
//   {"type": "array",  "line": 3, "column": 1, "value": [{...}, ...]}
//   {"type": "string", "line": 2, "column": 1, "value": "text"}
//   {"type": "integer", ...,  "value": 42}        64-bit signed, exact
//   {"type": "float", ...,    "value": 0.7}       "inf", "-inf", "nan" as strings
//   {"type": "boolean", ...,  "value": true}
//   {"type": "date" | "time" | "date-time", ..., "value": "1979-05-27T07:32:00Z"}
//
// Lines and columns are 1-based and count UTF-8 code points, as toml++ does.
#ifndef ASTH_TOML_H
#define ASTH_TOML_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/// Why a conversion failed, or `ASTH_TOML_OK`.
typedef enum asth_toml_status {
    /// The document was converted; the error holds nothing.
    ASTH_TOML_OK = 0,
    /// toml++ rejected the text (syntax, invalid UTF-8, a key defined twice):
    /// `message` is toml++'s description, `line` and `column` where it stopped.
    ASTH_TOML_SYNTAX = 1,
    /// The text is longer than `bytes_max`; nothing was parsed.
    ASTH_TOML_TOO_LARGE = 2,
    /// Tables and arrays nest deeper than `depth_max`: `key` is the dotted path
    /// of the first container too deep, `line` and `column` where it starts.
    ASTH_TOML_TOO_DEEP = 3,
    /// Out of memory, or the parser thread could not start: `message` says which.
    ASTH_TOML_RESOURCES = 4,
} asth_toml_status;

/// What went wrong, filled by `asth_toml_to_json`; release with
/// `asth_toml_error_clear`.
typedef struct asth_toml_error {
    asth_toml_status status;
    /// 1-based line of the fault; 0 when unknown.
    uint32_t line;
    /// 1-based column (code points) of the fault; 0 when unknown.
    uint32_t column;
    /// A NUL-terminated UTF-8 description (malloc'd), or NULL.
    char *message;
    /// The dotted key at fault (malloc'd), or NULL.
    char *key;
} asth_toml_error;

/// Parses `length` bytes of TOML and returns the document as positioned JSON.
///
/// `text` need not be NUL-terminated. Input longer than `bytes_max` is refused
/// before parsing; tables and arrays nested more than `depth_max` deep (the
/// root table counts as one) are refused after. Returns a malloc'd,
/// NUL-terminated JSON string to release with `asth_toml_free`, or NULL with
/// `*error` filled. `error` must not be NULL; it is always overwritten.
char *asth_toml_to_json(
    const char *text, size_t length, size_t bytes_max, size_t depth_max,
    asth_toml_error *error);

/// Releases a string returned by `asth_toml_to_json`; NULL is ignored.
void asth_toml_free(char *json);

/// Releases the strings an error holds and resets it to `ASTH_TOML_OK`.
void asth_toml_error_clear(asth_toml_error *error);

#ifdef __cplusplus
}
#endif

#endif
