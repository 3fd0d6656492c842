// Package migrations holds Kollektiv's own schema as golang-migrate files.
// River's tables are migrated separately by rivermigrate.
package migrations

import "embed"

// FS holds every migration file, *.up.sql and *.down.sql, in sequence order.
//
//go:embed *.sql
var FS embed.FS
