package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"filippo.io/age"
	"github.com/spf13/cobra"

	"github.com/confo-go/confo"
	"github.com/confo-go/confo/seal"
)

// The confo command always runs the seal layer: without identities it
// shows sealed fields as their envelopes and refuses to write a plain value
// over one (set, edit, import); with identities (--identity,
// CONFO_IDENTITY_FILE, CONFO_IDENTITY) the seal commands and get --reveal
// open them.

// sealCommands returns the commands of sealed fields.
func (a *app) sealCommands() []*cobra.Command {
	return []*cobra.Command{a.keygenCommand(), a.recipientsCommand(), a.sealCommand(), a.unsealCommand()}
}

// sealLayer is the seal layer of every manager the command opens.
func (a *app) sealLayer() confo.Layer { return seal.Layer(a.identities...) }

// identityFlag adds --identity to cmd.
func (a *app) identityFlag(cmd *cobra.Command) *string {
	return cmd.Flags().StringP("identity", "i", "", "file of age identities (default: "+seal.EnvIdentityFile+" or "+seal.EnvIdentity+")")
}

// loadIdentities fills a.identities from the file given, or else from the
// environment.
func (a *app) loadIdentities(file string) error {
	var (
		ids []age.Identity
		err error
	)
	if file != "" {
		ids, err = seal.ReadIdentityFile(file)
	} else {
		ids, err = seal.IdentitiesFromEnv()
	}
	if err != nil {
		return err
	}
	a.identities = ids
	return nil
}

// withSealed opens the store with the seal layer and runs fn with its
// sealing Backend.
func (a *app) withSealed(cmd *cobra.Command, fn func(ctx context.Context, m *confo.Manager, b *seal.Backend) error) error {
	return a.withStore(cmd, func(ctx context.Context, m *confo.Manager) error {
		b, err := m.Layered(m.GetBackends().Active)
		if err != nil {
			return err
		}
		sb, ok := b.(*seal.Backend)
		for u, wraps := b.(confo.Unwrapper); !ok && wraps; u, wraps = u.Unwrap().(confo.Unwrapper) {
			sb, ok = u.Unwrap().(*seal.Backend) // beneath the schema layer (app.go)
		}
		if !ok {
			return fmt.Errorf("backend %q is not sealed: %T", m.GetBackends().Active, b)
		}
		return fn(ctx, m, sb)
	})
}

// revealing adds --reveal and --identity to get: with --reveal, sealed
// fields are opened and printed.
func (a *app) revealing(get *cobra.Command) *cobra.Command {
	reveal := get.Flags().Bool("reveal", false, "open sealed fields and print them (needs identities)")
	file := a.identityFlag(get)
	get.PreRunE = func(cmd *cobra.Command, argv []string) error {
		if !*reveal || len(argv) < 2 {
			return nil
		}
		if err := a.loadIdentities(*file); err != nil {
			return err
		}
		// A sealed field that does not open is an error, not an envelope.
		return a.withSealed(cmd, func(ctx context.Context, _ *confo.Manager, b *seal.Backend) error {
			snap, err := b.Load(ctx, argv[0])
			if err != nil {
				return err
			}
			return snap.Entries[argv[1]].Err
		})
	}
	get.Example += "\n  confo get database mysql password --reveal -i key.txt"
	return get
}

func (a *app) keygenCommand() *cobra.Command {
	var (
		pq  bool
		out string
	)
	cmd := &cobra.Command{
		Use:   "keygen",
		Short: "Make an age identity for sealed fields",
		Long: `Make an age identity (secret key) in age-keygen's format and print its
recipient (public key) on stderr. Files made by age-keygen work as well.
Give the recipient to "confo recipients add"; keep the identity secret
(CONFO_IDENTITY_FILE names it to the commands and to services).`,
		Example: `  confo keygen -o ~/.config/confo/key.txt
  confo keygen --pq -o key.txt`,
		Args: args(0, 0),
		RunE: func(cmd *cobra.Command, _ []string) error {
			file, recipient, err := seal.GenerateIdentity(pq)
			if err != nil {
				return err
			}
			if out == "" {
				if _, err := io.WriteString(a.stdout, file); err != nil {
					return err
				}
			} else {
				f, err := os.OpenFile(out, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
				if err != nil {
					return fmt.Errorf("keygen: %w", err)
				}
				_, werr := io.WriteString(f, file)
				if err := errors.Join(werr, f.Close()); err != nil {
					return fmt.Errorf("keygen: %w", err)
				}
			}
			_, err = fmt.Fprintf(a.stderr, "Public key: %s\n", recipient)
			return err
		},
	}
	cmd.Flags().BoolVar(&pq, "pq", false, "a hybrid post-quantum key (ML-KEM-768 + X25519)")
	cmd.Flags().StringVarP(&out, "output", "o", "", "write the identity to this new file (mode 0600) instead of stdout")
	return cmd
}

func (a *app) recipientsCommand() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "recipients",
		Short: "List and change the recipients that sealed fields of a namespace are sealed to",
		Long: `A namespace's recipients are age public keys kept beside it in the store;
every writer seals to them. After adding or removing one, run
"confo seal rotate NS" to re-seal the namespace's sealed fields.`,
		Args: a.subcommand,
		RunE: a.group,
	}
	ls := &cobra.Command{
		Use:   "ls NS",
		Short: "List the recipients of a namespace",
		Args:  args(1, 1),
		RunE: func(cmd *cobra.Command, argv []string) error {
			return a.withSealed(cmd, func(ctx context.Context, _ *confo.Manager, b *seal.Backend) error {
				rs, _, err := b.Recipients(ctx, argv[0])
				if err != nil {
					return err
				}
				if a.json {
					return a.printJSON(append([]string{}, rs...))
				}
				for _, r := range rs {
					fmt.Fprintln(a.stdout, r)
				}
				return nil
			})
		},
	}
	change := func(use, short string, apply func(b *seal.Backend, ctx context.Context, ns string, rs ...string) error) *cobra.Command {
		return &cobra.Command{
			Use:   use + " NS RECIPIENT...",
			Short: short,
			Args:  args(2, -1),
			RunE: func(cmd *cobra.Command, argv []string) error {
				return a.withSealed(cmd, func(ctx context.Context, _ *confo.Manager, b *seal.Backend) error {
					before, _, err := b.Recipients(ctx, argv[0])
					if err != nil {
						return err
					}
					if err := apply(b, ctx, argv[0], argv[1:]...); err != nil {
						return err
					}
					if len(before) == 0 {
						return a.done(map[string]any{"namespace": argv[0], "rotate": false},
							"namespace %s seals to %d recipient(s)", argv[0], len(argv)-1)
					}
					return a.done(map[string]any{"namespace": argv[0], "rotate": true},
						"recipients of namespace %s changed; re-seal with: confo seal rotate %s", argv[0], argv[0])
				})
			},
		}
	}
	cmd.AddCommand(ls,
		change("add", "Add recipients to a namespace", (*seal.Backend).AddRecipients),
		change("rm", "Remove recipients from a namespace", (*seal.Backend).RemoveRecipients))
	return cmd
}

func (a *app) sealCommand() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "seal NS NAME FIELD[=VALUE]...",
		Short: "Seal fields of a configuration",
		Long: `Seal fields of a configuration to the namespace's recipients: a FIELD is
sealed as it is; FIELD=VALUE sets it sealed, as a string, and FIELD:=JSON
as any JSON value (as in "confo set"); FIELD=- (FIELD:=- for JSON) reads the
value from stdin, so that it never appears in the shell's history. The value never reaches the store unsealed. Sealing needs the
recipients only, not an identity.`,
		Example: `  confo seal database mysql password
  printf %s "$PW" | confo seal database mysql password=-
  confo seal rotate database`,
		Args: args(3, -1),
		RunE: func(cmd *cobra.Command, argv []string) error {
			ns, name := argv[0], argv[1]
			var fields []string
			set := make(map[string]any)
			for _, arg := range argv[2:] {
				f, v, ok := strings.Cut(arg, "=")
				f, isJSON := strings.CutSuffix(f, ":")
				if !ok {
					f = arg
				}
				fields = append(fields, f)
				if !ok {
					continue
				}
				if v == "-" {
					b, err := io.ReadAll(a.stdin)
					if err != nil {
						return fmt.Errorf("read %s from stdin: %w", f, err)
					}
					v = strings.TrimSuffix(string(b), "\n")
				}
				if !isJSON {
					set[f] = v // a string, as typed: nothing is guessed
					continue
				}
				x, err := parseJSON(f, v)
				if err != nil {
					return usagef("argument %q: %v", arg, err)
				}
				set[f] = x
			}
			return a.withSealed(cmd, func(ctx context.Context, m *confo.Manager, b *seal.Backend) error {
				if len(set) > 0 {
					if err := use(ctx, m, ns); err != nil {
						return err
					}
					for _, f := range fields {
						if v, ok := set[f]; ok {
							if err := m.SetField(name, f, seal.Secret(v)); err != nil {
								return err
							}
						}
					}
					if err := m.PersistConfig(ctx, ns, name); err != nil {
						return err
					}
				}
				if err := b.SealFields(ctx, ns, name, fields...); err != nil {
					return err
				}
				return a.done(map[string]any{"namespace": ns, "name": name, "sealed": fields},
					"sealed %s of %s in namespace %s", strings.Join(fields, ", "), name, ns)
			})
		},
	}
	cmd.AddCommand(a.rotateCommand())
	return cmd
}

func (a *app) rotateCommand() *cobra.Command {
	var batch int
	cmd := &cobra.Command{
		Use:   "rotate NS",
		Short: "Re-seal every sealed field of a namespace to its current recipients",
		Long: `Re-seal, in guarded batches, every sealed field of a namespace that is not
sealed to its current recipients, reporting progress on stderr. Services
keep reading meanwhile (give them the old and the new identity until it is
done). An interrupted rotation resumes where it stopped, and so does one
that --timeout (which bounds the whole rotation) cuts short. Needs
identities that open the fields (the old ones).`,
		Example: `  confo recipients add database age1...   # the new key
  confo recipients rm database age1...    # the old key
  CONFO_IDENTITY_FILE=old.txt confo seal rotate database`,
		Args: args(1, 1),
		RunE: func(cmd *cobra.Command, argv []string) error {
			ns := argv[0]
			return a.withSealed(cmd, func(ctx context.Context, _ *confo.Manager, b *seal.Backend) error {
				prog, err := b.Rotate(ctx, ns, seal.RotateOptions{BatchSize: batch, Progress: func(p seal.RotateProgress) {
					resumed := ""
					if p.Resumed {
						resumed = " (resumed)"
					}
					fmt.Fprintf(a.stderr, "re-sealed %d/%d configurations of namespace %s%s\n", p.Done, p.Total, ns, resumed)
				}})
				if err != nil {
					return err
				}
				return a.done(map[string]any{"namespace": ns, "resealed": prog.Done},
					"namespace %s: every sealed field is sealed to the current recipients (%s re-sealed)", ns, count(prog.Done))
			})
		},
	}
	cmd.Flags().IntVar(&batch, "batch-size", seal.DefaultBatchSize, "configurations re-sealed per guarded step")
	file := a.identityFlag(cmd)
	cmd.PreRunE = func(*cobra.Command, []string) error { return a.loadIdentities(*file) }
	return cmd
}

func (a *app) unsealCommand() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "unseal NS NAME FIELD...",
		Short: "Store sealed fields of a configuration in plain text again",
		Long: `Store sealed fields in plain text again (they stay in the store's history
sealed). Needs identities that open them.`,
		Example: `  confo unseal database mysql password -i key.txt`,
		Args:    args(3, -1),
		RunE: func(cmd *cobra.Command, argv []string) error {
			return a.withSealed(cmd, func(ctx context.Context, _ *confo.Manager, b *seal.Backend) error {
				if err := b.UnsealFields(ctx, argv[0], argv[1], argv[2:]...); err != nil {
					return err
				}
				return a.done(map[string]any{"namespace": argv[0], "name": argv[1], "unsealed": argv[2:]},
					"unsealed %s of %s in namespace %s", strings.Join(argv[2:], ", "), argv[1], argv[0])
			})
		},
	}
	file := a.identityFlag(cmd)
	cmd.PreRunE = func(*cobra.Command, []string) error { return a.loadIdentities(*file) }
	return cmd
}
