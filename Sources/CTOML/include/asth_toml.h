#ifndef ASTH_TOML_H
#define ASTH_TOML_H
#endif
