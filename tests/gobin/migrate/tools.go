//go:build tools

// The real golang-migrate CLI, pinned here; built with -tags postgres.
package tools

import (
	_ "github.com/golang-migrate/migrate/v4/cmd/migrate"
)
