from cli.oms import main

raise SystemExit(main())
