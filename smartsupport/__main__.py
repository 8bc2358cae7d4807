from smartsupport.cli import main

raise SystemExit(main())
