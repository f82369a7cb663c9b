// The C half of the callback registration declared in spell_go.h. cgo's exports take non-const
// pointers, hence the casts to Spell's callback types.
#include "spell_go.h"

#include "_cgo_export.h"

static spell_meter_t go_meter(uintptr_t handle, bool observe) {
  spell_meter_t m = {(void *)handle, (spell_authorize_fn)spellGoAuthorize, (spell_record_fn)spellGoRecord,
                     observe ? (spell_observe_fn)spellGoObserve : NULL, spellGoFinalize};
  return m;
}

spell_error_t *spell_go_config_meter(spell_config_t *config, uintptr_t handle, bool observe) {
  spell_meter_t m = go_meter(handle, observe);
  return spell_config_meter(config, &m);
}

spell_error_t *spell_go_request_meter(spell_request_t *request, uintptr_t handle, bool observe) {
  spell_meter_t m = go_meter(handle, observe);
  return spell_request_meter(request, &m);
}

spell_error_t *spell_go_request_on_output(spell_request_t *request, uintptr_t handle) {
  return spell_request_on_output(request, (spell_output_fn)spellGoOutput, (void *)handle, spellGoFinalize);
}

spell_error_t *spell_go_config_host_function(spell_config_t *config, const char *module, size_t module_len,
                                             const char *name, size_t name_len, const spell_valkind_t *params,
                                             size_t nparams, const spell_valkind_t *results, size_t nresults,
                                             uintptr_t handle) {
  return spell_config_host_function(config, module, module_len, name, name_len, params, nparams, results, nresults,
                                    (spell_host_fn)spellGoHostCall, (void *)handle, spellGoFinalize);
}
