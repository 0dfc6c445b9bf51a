// migrate-withinstance runs golang-migrate as a library with postgres.WithInstance and an
// empty Config, the form in which the driver names the database by CURRENT_DATABASE()
// (database/postgres/postgres.go) instead of the URL path the CLI uses.
//
//	migrate-withinstance -database URL -path DIR up [N]|down [N]|version|force V
//
// up without N applies all; down without N rolls back one (the CLI's "down 1").
package main

import (
	"database/sql"
	"errors"
	"flag"
	"fmt"
	"os"
	"strconv"

	"github.com/golang-migrate/migrate/v4"
	"github.com/golang-migrate/migrate/v4/database/postgres"
	_ "github.com/golang-migrate/migrate/v4/source/file"
	_ "github.com/lib/pq"
)

func main() {
	dbURL := flag.String("database", os.Getenv("DATABASE_URL"), "libpq URL (default: $DATABASE_URL)")
	path := flag.String("path", "", "migrations directory")
	flag.Parse()
	if err := run(*dbURL, *path, flag.Args()); err != nil {
		fmt.Fprintln(os.Stderr, "error:", err)
		os.Exit(1)
	}
}

func run(dbURL, path string, args []string) error {
	if len(args) == 0 {
		return errors.New("want up [N], down [N], version or force V")
	}
	db, err := sql.Open("postgres", dbURL)
	if err != nil {
		return err
	}
	defer db.Close()
	driver, err := postgres.WithInstance(db, &postgres.Config{})
	if err != nil {
		return err
	}
	m, err := migrate.NewWithDatabaseInstance("file://"+path, "postgres", driver)
	if err != nil {
		return err
	}
	switch args[0] {
	case "up":
		if len(args) > 1 {
			n, perr := strconv.Atoi(args[1])
			if perr != nil {
				return perr
			}
			err = m.Steps(n)
		} else {
			err = m.Up()
		}
	case "down":
		n := 1
		if len(args) > 1 {
			if n, err = strconv.Atoi(args[1]); err != nil {
				return err
			}
		}
		err = m.Steps(-n)
	case "version":
		v, dirty, verr := m.Version()
		if verr != nil {
			return verr
		}
		fmt.Printf("%d", v)
		if dirty {
			fmt.Print(" (dirty)")
		}
		fmt.Println()
		return nil
	case "force":
		if len(args) < 2 {
			return errors.New("force wants a version")
		}
		v, perr := strconv.Atoi(args[1])
		if perr != nil {
			return perr
		}
		err = m.Force(v)
	default:
		return fmt.Errorf("unknown command %q", args[0])
	}
	if errors.Is(err, migrate.ErrNoChange) {
		fmt.Println("no change")
		return nil
	}
	return err
}
