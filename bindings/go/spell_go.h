// Registers the Go callbacks of callbacks.go with Spell (definitions in spell_go.c). Each takes
// a cgo.Handle as the callbacks' env: an integer, so no Go pointer ever reaches Spell, and
// spellGoFinalize deletes it when Spell lets go.
#ifndef SPELL_GO_H
#define SPELL_GO_H

#include <stdint.h>

#include "spell.h"

// A Go MeteringHook; with observe, also its Observe.
spell_error_t *spell_go_config_meter(spell_config_t *config, uintptr_t handle, bool observe);
spell_error_t *spell_go_request_meter(spell_request_t *request, uintptr_t handle, bool observe);
spell_error_t *spell_go_request_on_output(spell_request_t *request, uintptr_t handle);

spell_error_t *spell_go_config_host_function(spell_config_t *config, const char *module, size_t module_len,
                                             const char *name, size_t name_len, const spell_valkind_t *params,
                                             size_t nparams, const spell_valkind_t *results, size_t nresults,
                                             uintptr_t handle);

#endif
