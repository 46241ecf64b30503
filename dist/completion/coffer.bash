# SPDX-License-Identifier: ISC
# bash completion for coffer(1).
#
# Installed as $(PREFIX)/share/bash-completion/completions/coffer, where
# bash-completion loads it on demand; or source it from ~/.bashrc.
#
# Completes commands, global and per-command options, option values, snapshot
# names (ls, restore, diff, stats, forget, tag, copy, find --snapshot), key ids (key
# add-passphrase, remove-passphrase, destroy) and escrow subcommands.  Names and ids come from the
# repository named on the command line (--repo, --keystore, --system,
# --passphrase-file) or by COFFER_REPO: through "coffer snapshots --json" and
# jq when jq is installed, else from the first column of the text output.
# coffer is run without a terminal, so a keystore password is never asked for
# (set COFFER_PASSWORD_FILE for names from a keystore with a password).

# _coffer_cmd_opts CMD [SUB]: the options of CMD (of "key SUB").  Keep in
# step with the getopt tables in cli/cmd_*.c.
_coffer_cmd_opts()
{
	case $1 in
	init)		echo "--name-by --scope --period --custody --no-password --like --json" ;;
	backup)		echo "--json --json-progress --scope --period --custody --exclude --exclude-file
			    --exclude-caches --exclude-larger-than -x
			    --one-file-system --files-from -0 --null --stdin
			    --stdin-name --tag" ;;
	snapshots)	echo "--json --tag --host --path" ;;
	tag)		echo "--add --remove --set --json" ;;
	mount)		echo "--foreground -f --allow-other --cache-size --tag --host --path" ;;
	copy)		echo "--to --tag --host --path --json" ;;
	ls)		echo "--json" ;;
	diff)		echo "--json" ;;
	find)		echo "--json --snapshot -s" ;;
	restore)	echo "--target -t --include -i --overwrite --verbose -v
			    --to-stdout --json --json-progress" ;;
	check)		echo "--read-data --json --json-progress" ;;
	stats)		echo "--json" ;;
	forget)		echo "--keep-last --keep-hourly --keep-daily --keep-weekly
			    --keep-monthly --keep-yearly --dry-run -n --prune
			    --max-unused --json --tag --host --path --group-by" ;;
	prune)		echo "--dry-run -n --max-unused --json" ;;
	key)
		case $2 in
		list)		echo "--json" ;;
		destroy)	echo "--yes -y" ;;
		add-passphrase|remove-passphrase) ;;
		*)		echo "--json --yes -y" ;;
		esac ;;
	escrow)
		case $2 in
		register)	echo "--server --account --json" ;;
		login)		echo "--server --account --device --json" ;;
		status|keys|pool|devices|totp) echo "--json" ;;
		audit)		echo "--limit --json" ;;
		logout)		echo "--json" ;;
		revoke)		echo "--id --all-others --json" ;;
		destroy)	echo "--device --yes --json" ;;
		delete-account)	echo "--yes" ;;
		passwd)		;;
		*)		echo "--server --account --device --id --all-others --yes --limit --json" ;;
		esac ;;
	keystore)	echo "--json" ;;
	card)
		case $2 in
		add)		echo "--label --device --exclude --exclude-file
				    --exclude-caches -x --one-file-system
				    --keep-last --keep-hourly --keep-daily
				    --keep-weekly --keep-monthly --keep-yearly" ;;
		list|status)	echo "--json" ;;
		remove|run)	;;
		*)		echo "--label --device --exclude --exclude-file
				    --exclude-caches -x --one-file-system
				    --keep-last --keep-hourly --keep-daily
				    --keep-weekly --keep-monthly --keep-yearly
				    --json" ;;
		esac ;;
	help)		;;
	*)
		# A command this file does not know yet: ask it.
		_coffer_run "$1" --help | grep -oE -- '--[a-z][a-z0-9-]*' |
		    sort -u ;;
	esac
}

# _coffer_takes_arg CMD OPTION: true if OPTION of CMD takes an argument.
_coffer_takes_arg()
{
	case $2 in
	--repo|--keystore|--passphrase-file|--cacert) return 0 ;;
	esac
	case $1:$2 in
	init:--name-by|init:--scope|init:--period|init:--custody|init:--like|\
	copy:--to|copy:--tag|copy:--host|copy:--path) return 0 ;;
	backup:--scope|backup:--period|backup:--custody|backup:--exclude|backup:--exclude-file|\
	backup:--exclude-larger-than|backup:--files-from|backup:--stdin-name)
		return 0 ;;
	restore:--target|restore:-t|restore:--include|restore:-i) return 0 ;;
	find:--snapshot|find:-s) return 0 ;;
	escrow:--server|escrow:--account|escrow:--limit|escrow:--device|\
	escrow:--id) return 0 ;;
	forget:--keep-*|card:--keep-*) return 0 ;;
	card:--label|card:--device|card:--exclude|card:--exclude-file)
		return 0 ;;
	snapshots:--tag|snapshots:--host|snapshots:--path|forget:--tag|\
	forget:--host|forget:--path|forget:--group-by|backup:--tag|\
	tag:--add|tag:--remove|tag:--set|mount:--tag|mount:--host|\
	mount:--path|mount:--cache-size) return 0 ;;
	esac
	case $1 in
	init|backup|snapshots|ls|diff|find|restore|check|stats|forget|prune|\
	tag|mount|copy|key|keystore|escrow|card|help|'')
		return 1 ;;
	esac
	# Unknown command: its usage shows "--option ARG".
	_coffer_run "$1" --help |
	    grep -qE -- "(^|[^a-z0-9-])$2[ =][A-Z]"
}

# _coffer_unquote WORD: WORD without surrounding quotes, with ~ expanded.
_coffer_unquote()
{
	local w=$1
	case $w in
	\'*\') w=${w#\'}; w=${w%\'} ;;
	\"*\") w=${w#\"}; w=${w%\"} ;;
	esac
	case $w in
	\~|\~/*) w=$HOME${w#\~} ;;
	esac
	printf '%s' "$w"
}

# _coffer_run ARG...: run coffer, with the global options of the line being
# completed (in _coffer_g), without a terminal and without stderr.
_coffer_run()
{
	local prog=${_coffer_prog:-coffer}

	if command -v setsid >/dev/null 2>&1; then
		setsid -w "$prog" "${_coffer_g[@]}" "$@" </dev/null 2>/dev/null
	else
		"$prog" "${_coffer_g[@]}" "$@" </dev/null 2>/dev/null
	fi
}

_coffer_commands()
{
	local static="init backup snapshots ls diff find restore check stats
	    tag mount copy forget prune key keystore escrow card help"

	printf '%s\n' $static
	_coffer_run --help | awk '/^commands:/ { f = 1; next }
	    f && /^$/ { exit } f && /^  [a-z]/ { print $1 }'
}

# _coffer_card_names: the labels of the recorded cards (coffer card list).
_coffer_card_names()
{
	if command -v jq >/dev/null 2>&1; then
		_coffer_run card list --json | jq -r '.cards[].label' 2>/dev/null
	else
		_coffer_run card list | awk '/^[^ ]/ && $2 == "UUID" { print $1 }'
	fi
}

_coffer_snapshot_names()
{
	local names=

	if command -v jq >/dev/null 2>&1; then
		names=$(_coffer_run snapshots --json |
		    jq -r '.snapshots[].name' 2>/dev/null)
	fi
	if [ -z "$names" ]; then
		names=$(_coffer_run -q snapshots | awk '$1 != "NAME" &&
		    $2 != "snapshots" && $2 != "snapshot" && NF > 1 { print $1 }')
	fi
	printf '%s\n' latest $names
}

_coffer_key_ids()
{
	local ids=

	if command -v jq >/dev/null 2>&1; then
		ids=$(_coffer_run key list --json |
		    jq -r '.key_sets[].key_id' 2>/dev/null)
	fi
	if [ -z "$ids" ]; then
		ids=$(_coffer_run key list | awk '{ print $1 }' |
		    grep -E '^[0-9a-f]{16}$')
	fi
	printf '%s\n' $ids
}

# _coffer_reply WORD...: COMPREPLY = the WORDs that start with $cur.
_coffer_reply()
{
	local IFS=$'\n' w

	COMPREPLY=()
	for w in $*; do
		[[ -n $w && $w == "$cur"* ]] && COMPREPLY+=("$w")
	done
	# bash splits words at ':'; complete only the part after the last one.
	if [[ $cur == *:* && $COMP_WORDBREAKS == *:* ]]; then
		local pre=${cur%"${cur##*:}"} i
		for i in "${!COMPREPLY[@]}"; do
			COMPREPLY[i]=${COMPREPLY[i]#"$pre"}
		done
	fi
}

_coffer_files()
{
	local IFS=$'\n'

	compopt -o filenames 2>/dev/null
	if [ "$1" = -d ]; then
		COMPREPLY=($(compgen -d -- "$cur"))
	else
		COMPREPLY=($(compgen -f -- "$cur"))
	fi
}

_coffer()
{
	local cur prev cword i w cmd= sub= npos=0 optend=0
	local -a words _coffer_g=()
	local _coffer_prog=coffer

	if declare -F _get_comp_words_by_ref >/dev/null; then
		_get_comp_words_by_ref -n := cur prev words cword
	else
		# Join what bash split at ':' and '=' back into one word.
		words=()
		cword=-1
		for ((i = 0; i < ${#COMP_WORDS[@]}; i++)); do
			w=${COMP_WORDS[i]}
			if ((i > 0 && ${#words[@]} > 0)) && [[ $w == [:=] ||
			    ${COMP_WORDS[i-1]} == [:=] ]]; then
				words[${#words[@]}-1]+=$w
			else
				words+=("$w")
			fi
			((i == COMP_CWORD)) && cword=$((${#words[@]} - 1))
		done
		((cword < 0)) && { words+=(""); cword=$((${#words[@]} - 1)); }
		cur=${words[cword]}
		prev=${words[cword-1]}
	fi

	w=$(_coffer_unquote "${words[0]}")
	if [[ $w == */* && -x $w ]] || command -v "$w" >/dev/null 2>&1; then
		_coffer_prog=$w
	fi

	# The command, its subcommand, the positional arguments before the
	# cursor, and the global options to pass on.
	for ((i = 1; i < cword; i++)); do
		w=${words[i]}
		if ((optend)) || [[ $w != -* || $w == - ]]; then
			if [ -z "$cmd" ]; then
				cmd=$w
			elif [[ ($cmd == key || $cmd == keystore ||
			    $cmd == escrow || $cmd == card) && -z $sub ]]
			then
				sub=$w
			else
				npos=$((npos + 1))
			fi
			continue
		fi
		case $w in
		--)	optend=1 ;;
		--system)
			_coffer_g+=(--system) ;;
		--repo=*|--keystore=*|--passphrase-file=*)
			_coffer_g+=("${w%%=*}=$(_coffer_unquote "${w#*=}")") ;;
		--repo|--keystore|--passphrase-file)
			((i + 1 < cword)) &&
			    _coffer_g+=("$w" "$(_coffer_unquote "${words[i+1]}")")
			i=$((i + 1)) ;;
		--*=*)	;;
		*)	_coffer_takes_arg "$cmd" "$w" && i=$((i + 1)) ;;
		esac
	done

	# The value of an option: "--opt VALUE" or "--opt=VALUE".
	local opt= val=$cur
	if [[ $cur == --*=* ]]; then
		opt=${cur%%=*}
		val=${cur#*=}
	elif [[ $prev == -* ]] && ! ((optend)) && _coffer_takes_arg "$cmd" "$prev"
	then
		opt=$prev
	fi
	if [ -n "$opt" ]; then
		local cur=$val
		case $opt in
		--repo|--keystore|--target|-t|--to|--like)
			_coffer_files -d ;;
		--passphrase-file|--exclude-file|--files-from|--cacert|\
		--device)
			_coffer_files ;;
		--scope)	_coffer_reply device period backup ;;
		--period)	_coffer_reply day week month ;;
		--custody)	_coffer_reply local escrow local+escrow \
				    escrow-wrap ;;
		--name-by)	_coffer_reply time count ;;
		--overwrite)	_coffer_reply never if-changed always ;;
		--snapshot|-s)	_coffer_reply "$(_coffer_snapshot_names)" ;;
		*)		COMPREPLY=() ;;
		esac
		return 0
	fi

	local globals="--repo --keystore --system --passphrase-file --cacert
	    --quiet -q --help -h"
	if [ -z "$cmd" ]; then
		if [[ $cur == -* ]]; then
			_coffer_reply $globals --version -V
		else
			_coffer_reply "$(_coffer_commands | sort -u)"
		fi
		return 0
	fi
	if [[ $cur == -* ]] && ! ((optend)); then
		_coffer_reply $(_coffer_cmd_opts "$cmd" "$sub") $globals
		return 0
	fi

	case $cmd in
	backup)
		_coffer_files ;;
	ls|restore|stats)
		if ((npos == 0)); then
			_coffer_reply "$(_coffer_snapshot_names)"
		else
			COMPREPLY=()
		fi ;;
	diff)
		if ((npos < 2)); then
			_coffer_reply "$(_coffer_snapshot_names)"
		else
			COMPREPLY=()
		fi ;;
	forget|tag|copy)
		_coffer_reply "$(_coffer_snapshot_names)" ;;
	key)
		if [ -z "$sub" ]; then
			_coffer_reply list add-passphrase remove-passphrase \
			    destroy
		elif [[ $sub != list ]] && ((npos == 0)); then
			_coffer_reply "$(_coffer_key_ids)"
		else
			COMPREPLY=()
		fi ;;
	escrow)
		if [ -z "$sub" ]; then
			_coffer_reply register login logout status keys audit \
			    pool devices revoke destroy passwd delete-account totp
		else
			COMPREPLY=()
		fi ;;
	card)
		if [ -z "$sub" ]; then
			_coffer_reply add list remove status run
		elif [[ $sub == add ]]; then
			_coffer_files
		elif [[ $sub == run ]] && ((npos == 0)); then
			_coffer_files
		elif [[ $sub == remove || $sub == status ]] && ((npos == 0))
		then
			_coffer_reply "$(_coffer_card_names)"
		else
			COMPREPLY=()
		fi ;;
	keystore)
		if [ -z "$sub" ]; then
			_coffer_reply passwd
		else
			COMPREPLY=()
		fi ;;
	*)
		COMPREPLY=() ;;
	esac
	return 0
}

complete -F _coffer coffer
