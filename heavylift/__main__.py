from heavylift.cli.app import main

main()
