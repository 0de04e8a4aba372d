from calgen.cli import main

raise SystemExit(main())
