package spell

// #include "spell.h"
import "C"

import "fmt"

// ErrorCode is a code from Spell's one error catalog (docs/error-codes.md): the Code*
// constants. It is also an error, so errors.Is(err, spell.CodeBusy) tests an *Error's code.
type ErrorCode uint16

// String is the public code, e.g. "E-PKG-003".
func (c ErrorCode) String() string {
	var s C.spell_str_t
	if !C.spell_error_code_str(C.spell_error_code_t(c), &s) {
		return fmt.Sprintf("E-UNKNOWN-%d", uint16(c))
	}
	return goString(s)
}

// Name is the snake_case name, e.g. "package_path_invalid".
func (c ErrorCode) Name() string {
	var s C.spell_str_t
	if !C.spell_error_code_name(C.spell_error_code_t(c), &s) {
		return "unknown"
	}
	return goString(s)
}

// Error makes a code usable as an errors.Is target.
func (c ErrorCode) Error() string {
	return c.String() + " " + c.Name()
}

// Error is a refusal from Spell: a catalog code and a message.
type Error struct {
	code ErrorCode
	msg  string
}

// Code is the catalog code.
func (e *Error) Code() ErrorCode { return e.code }

// Message is the human-readable message, without the code.
func (e *Error) Message() string { return e.msg }

func (e *Error) Error() string {
	return fmt.Sprintf("spell: %s: %s", e.code, e.msg)
}

// Is reports whether target is this error's code, for errors.Is(err, spell.CodeX).
func (e *Error) Is(target error) bool {
	c, ok := target.(ErrorCode)
	return ok && c == e.code
}

// takeError turns a spell_error_t* into an error (nil for NULL) and frees it.
func takeError(p *C.spell_error_t) error {
	if p == nil {
		return nil
	}
	defer C.spell_error_delete(p)
	var msg C.spell_str_t
	C.spell_error_message(p, &msg)
	return &Error{code: ErrorCode(C.spell_error_code(p)), msg: goString(msg)}
}

// cError makes the spell_error_t* a callback returns to report a failure; Spell owns it.
func cError(msg string) *C.spell_error_t {
	p, n := cStr(msg)
	return C.spell_error_new(p, n)
}

// cDenied makes the spell_error_t* Authorize returns to refuse a cast; Spell owns it.
func cDenied(reason string) *C.spell_error_t {
	p, n := cStr(reason)
	return C.spell_denied_new(p, n)
}
