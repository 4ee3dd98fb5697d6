from tokenlight.cli import main

raise SystemExit(main())
