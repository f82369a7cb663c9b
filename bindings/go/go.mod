module spell.dev/spell/bindings/go

go 1.22
