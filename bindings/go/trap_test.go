package spell

import (
	"os"
	"regexp"
	"strconv"
	"strings"
	"testing"
)

// Every SPELL_TRAP_* kind of spell.h (generated from the Rust TrapKind) has a constant in
// trap.go, and its name is the lower-case macro name.
func TestTrapKindsMatchHeader(t *testing.T) {
	header, err := os.ReadFile("../c/include/spell.h")
	if err != nil {
		t.Fatal(err)
	}
	source, err := os.ReadFile("trap.go")
	if err != nil {
		t.Fatal(err)
	}
	declared := map[string]bool{}
	for _, m := range regexp.MustCompile(`TrapKind = C\.SPELL_TRAP_(\w+)`).FindAllStringSubmatch(string(source), -1) {
		declared[m[1]] = true
	}
	kinds := regexp.MustCompile(`(?m)^#define SPELL_TRAP_(\w+) (\d+)$`).FindAllStringSubmatch(string(header), -1)
	if len(kinds) < 19 {
		t.Fatalf("found only %d trap kinds in spell.h", len(kinds))
	}
	for _, m := range kinds {
		v, _ := strconv.Atoi(m[2])
		if !declared[m[1]] {
			t.Errorf("trap.go lacks SPELL_TRAP_%s", m[1])
		}
		if got := TrapKind(v).String(); got != strings.ToLower(m[1]) {
			t.Errorf("TrapKind(%d) is %q, spell.h says %s", v, got, m[1])
		}
	}
	if len(declared) != len(kinds) {
		t.Errorf("trap.go declares %d kinds, spell.h %d", len(declared), len(kinds))
	}
}
